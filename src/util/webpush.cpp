#include "util/webpush.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <stdexcept>

#include "util/text.hpp"

namespace ssechat::webpush {

namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

// HMAC-SHA-256: HKDF's Extract is HMAC(salt, ikm), and its Expand for at most 32 bytes is
// HMAC(prk, info || 0x01) cut to length.
std::string hmac(std::string_view key, std::string_view data) {
    unsigned char md[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(), md, &n);
    return std::string(reinterpret_cast<char*>(md), n);
}

std::string expand(std::string_view prk, std::string info, size_t len) {
    info.push_back('\x01');
    return hmac(prk, info).substr(0, len);
}

std::string public_point(EVP_PKEY* k) {
    unsigned char buf[65];
    size_t n = 0;
    if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof buf,
                                        &n) != 1 ||
        n != 65 || buf[0] != 0x04)
        return {};
    return std::string(reinterpret_cast<char*>(buf), n);
}

// A P-256 public key from its uncompressed point; OpenSSL checks that it is on the curve.
Pkey peer_key(std::string_view point) {
    Pkey out(nullptr, EVP_PKEY_free);
    if (point.size() != 65 || point[0] != '\x04') return out;
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
    EVP_PKEY* k = nullptr;
    if (params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
        EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_PUBLIC_KEY, params) == 1)
        out.reset(k);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return out;
}

std::string ecdh(EVP_PKEY* mine, EVP_PKEY* theirs) {
    PkeyCtx ctx(EVP_PKEY_CTX_new(mine, nullptr), EVP_PKEY_CTX_free);
    size_t n = 0;
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer(ctx.get(), theirs) != 1 ||
        EVP_PKEY_derive(ctx.get(), nullptr, &n) != 1)
        return {};
    std::string out(n, '\0');
    if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n) != 1)
        return {};
    out.resize(n);
    return out;
}

std::optional<std::string> seal(std::string_view key, std::string_view nonce,
                                std::string_view plain) {
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                        EVP_CIPHER_CTX_free);
    std::string out(plain.size() + 16, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    int n = 0, tail = 0;
    if (!ctx ||
        EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, bytes(key), bytes(nonce)) != 1 ||
        EVP_EncryptUpdate(ctx.get(), o, &n, bytes(plain), static_cast<int>(plain.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), o + n, &tail) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, o + n + tail) != 1)
        return std::nullopt;
    return out;
}

Pkey fresh_key() {
    return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
}

}  // namespace

void VapidKey::Free::operator()(void* p) const {
    EVP_PKEY_free(static_cast<EVP_PKEY*>(p));
}

VapidKey VapidKey::generate() {
    Pkey k = fresh_key();
    if (!k) throw std::runtime_error("cannot make a P-256 key");
    VapidKey v;
    v.public_ = public_point(k.get());
    v.key_ = std::shared_ptr<void>(k.release(), Free{});
    return v;
}

std::optional<VapidKey> VapidKey::from_pem(std::string_view pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    if (!bio) return std::nullopt;
    Pkey k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    if (!k || EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_EC || EVP_PKEY_get_bits(k.get()) != 256)
        return std::nullopt;
    VapidKey v;
    v.public_ = public_point(k.get());
    if (v.public_.empty()) return std::nullopt;
    v.key_ = std::shared_ptr<void>(k.release(), Free{});
    return v;
}

std::string VapidKey::pem() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), static_cast<EVP_PKEY*>(key_.get()), nullptr,
                                         nullptr, 0, nullptr, nullptr) != 1)
        throw std::runtime_error("cannot write the VAPID key");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

std::string VapidKey::jwt(std::string_view aud, int64_t exp, std::string_view sub) const {
    boost::json::object claims;
    claims["aud"] = aud;
    claims["exp"] = exp;
    if (!sub.empty()) claims["sub"] = sub;
    std::string input = text::base64url(R"({"typ":"JWT","alg":"ES256"})") + "." +
                        text::base64url(boost::json::serialize(claims));
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t n = 0;
    if (!ctx ||
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                           static_cast<EVP_PKEY*>(key_.get())) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &n, bytes(input), input.size()) != 1)
        throw std::runtime_error("cannot sign a VAPID token");
    std::string der(n, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &n, bytes(input),
                       input.size()) != 1)
        throw std::runtime_error("cannot sign a VAPID token");
    // JWS wants r || s, 32 bytes each (RFC 7518 3.4), where OpenSSL writes DER.
    const unsigned char* p = bytes(der);
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(n)), ECDSA_SIG_free);
    if (!sig) throw std::runtime_error("cannot sign a VAPID token");
    unsigned char rs[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), rs, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), rs + 32, 32);
    return input + "." + text::base64url(std::string_view(reinterpret_cast<char*>(rs), 64));
}

std::string VapidKey::authorization(std::string_view aud, int64_t exp, std::string_view sub) const {
    return "vapid t=" + jwt(aud, exp, sub) + ", k=" + text::base64url(public_);
}

std::optional<std::string> encrypt(std::string_view p256dh, std::string_view auth,
                                   std::string_view payload) {
    constexpr size_t kRecord = 4096, kHeader = 16 + 4 + 1 + 65;
    if (auth.size() != 16 || kHeader + payload.size() + 1 + 16 > kRecord) return std::nullopt;
    Pkey ua = peer_key(p256dh);
    if (!ua) return std::nullopt;
    Pkey as = fresh_key();
    if (!as) return std::nullopt;
    const std::string as_public = public_point(as.get());
    const std::string secret = ecdh(as.get(), ua.get());
    if (as_public.empty() || secret.empty()) return std::nullopt;

    // RFC 8291 3.4: the auth secret and the key exchange make the IKM ...
    std::string key_info = "WebPush: info";
    key_info.push_back('\0');
    key_info.append(p256dh).append(as_public);
    const std::string ikm = expand(hmac(auth, secret), key_info, 32);
    // ... and RFC 8188 2.2, 2.3 the content key and nonce under a random salt.
    std::string salt(16, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), 16) != 1) return std::nullopt;
    const std::string prk = hmac(salt, ikm);
    std::string cek_info = "Content-Encoding: aes128gcm", nonce_info = "Content-Encoding: nonce";
    cek_info.push_back('\0');
    nonce_info.push_back('\0');
    const std::string cek = expand(prk, std::move(cek_info), 16);
    const std::string nonce = expand(prk, std::move(nonce_info), 12);

    // One record, the last: the payload and its delimiter 0x02, no padding.
    std::string plain(payload);
    plain.push_back('\x02');
    auto sealed = seal(cek, nonce, plain);
    if (!sealed) return std::nullopt;
    std::string out = salt;
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((kRecord >> shift) & 0xff));
    out.push_back(static_cast<char>(as_public.size()));
    out += as_public;
    out += *sealed;
    return out;
}

std::string origin(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return {};
    auto end = url.find_first_of("/?#", scheme + 3);
    std::string o(url.substr(0, end));
    std::transform(o.begin(), o.end(), o.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return o;
}

}  // namespace ssechat::webpush
