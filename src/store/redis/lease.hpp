// A lease in Redis: one node at a time does a job (delivering a webhook, sending pushes),
// and another takes it over once the holder stops renewing it.
#pragma once

namespace ssechat::store {

// KEYS[1] the lease, ARGV[1] the node, ARGV[2] its time to live in ms. Takes the lease when
// nobody holds it, or renews it for its holder: 1 held, 0 another's.
constexpr const char* kLease = R"lua(
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";

}  // namespace ssechat::store
