-- Append events to one execution's history, only if its last event id is the one the
-- writer read. Every condition is checked before the first write: a script that errors
-- after writing keeps the write.
-- KEYS: [1] meta hash, [2] events list, [3] outbox list, [4] state hash (frames, tasks,
-- timers), then every other key of the execution that must expire with it (tasks, logs,
-- ...). All share the execution's hash tag.
-- ARGV[1] expected last event id ("0" to create), ARGV[2] new last event id,
-- ARGV[3] the snapshot's head JSON ("": unchanged), ARGV[4] status, ARGV[5] retention in milliseconds
-- ("0": keep forever), ARGV[6] number of events E, ARGV[7] of commands C, ARGV[8] of state
-- fields to set S, ARGV[9] of state fields to delete D; then E event JSONs, C command
-- JSONs, S field/value pairs, D field names, and meta field/value pairs to the end.
-- Returns {1, new last id, previous status} or {0, current last id}.
local current = redis.call('HGET', KEYS[1], 'last_event_id')
if current == false then current = '0' end
if current ~= ARGV[1] then
  return {0, current}
end
local previous = redis.call('HGET', KEYS[1], 'status')
if previous == false then previous = '' end
local i = 10
for _ = 1, tonumber(ARGV[6]) do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  i = i + 1
end
for _ = 1, tonumber(ARGV[7]) do
  redis.call('RPUSH', KEYS[3], ARGV[i])
  i = i + 1
end
for _ = 1, tonumber(ARGV[8]) do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  i = i + 2
end
for _ = 1, tonumber(ARGV[9]) do
  redis.call('HDEL', KEYS[4], ARGV[i])
  i = i + 1
end
redis.call('HSET', KEYS[1], 'last_event_id', ARGV[2], 'status', ARGV[4])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'state', ARGV[3])
end
while i < #ARGV do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
-- Retention: a finished execution's keys expire together, in this same atomic step; an
-- execution that runs again (redriven) keeps them until it finishes again.
if ARGV[4] ~= previous then
  local ttl = tonumber(ARGV[5])
  for k = 1, #KEYS do
    if ARGV[4] ~= 'RUNNING' and ttl > 0 then
      redis.call('PEXPIRE', KEYS[k], ttl)
    elseif ARGV[4] == 'RUNNING' then
      redis.call('PERSIST', KEYS[k])
    end
  end
end
return {1, ARGV[2], previous}
