-- Append events to one execution's history, only if its last event id is the one the
-- writer read. Every condition is checked before the first write: a script that errors
-- after writing keeps the write.
-- KEYS: [1] meta hash, [2] events list, [3] outbox list, [4] state hash (frames, tasks,
-- timers), [5] tasks hash (attempts in flight), [6] starts hash, then every other key of
-- the execution that must expire with it (logs, ...): ARGV[10] keys in all, sharing the
-- execution's hash tag. When ARGV[11] is "1" two global keys follow them: the task
-- deadlines and the timers sorted sets (one Redis only: on a Cluster they live on other
-- shards, and the commands go to the outbox instead).
-- ARGV[1] expected last event id ("0" to create), ARGV[2] new last event id,
-- ARGV[3] the snapshot's head JSON ("": unchanged), ARGV[4] status, ARGV[5] retention in
-- milliseconds ("0": keep forever), ARGV[6] number of events E, ARGV[7] of commands C,
-- ARGV[8] of state fields to set S, ARGV[9] of state fields to delete D, ARGV[10] the
-- number of the execution's keys, ARGV[11] "1" to carry the commands out here, and then
-- ARGV[12] a task whose outcome this append records, to forget ("": none), ARGV[13] its
-- deadlines member; ARGV[14..19] how the append may be rebased (store._rebasing): the
-- counters field ("": it may not), their deltas, the finished count they must stay below,
-- the SHA-1 of the head and the guarded fields as read, G the number of guarded fields,
-- the most events a history holds; then G guarded field names;
-- then E event JSONs, C command JSONs, when carrying C records of 4 (kind, task token,
-- sorted set member, score), S field/value pairs, D field names, and meta field/value
-- pairs to the end.
-- Carrying out here records each task (with its deadline, NX) and sets or cancels each
-- timer in the same atomic step as the events, so no command waits in the outbox: the
-- writer sends the tasks right after, and a writer that dies before sending leaves a task
-- with a deadline, which the recovery loop sends again.
-- Rebased: when the last event id moved on since the writer's read, the append is still
-- made if the head and the guarded fields are as they were read and the counters stay
-- below their bound; its events' ids shift past the events appended meanwhile (and
-- references to them with them), their timestamps are no earlier than those events', and
-- the counters change by the deltas rather than being set.
-- Returns {1, new last id, previous status, id shift, the time no event of a rebased append
-- is earlier than ("" when not rebased)} or {0, current last id}.
local current = redis.call('HGET', KEYS[1], 'last_event_id')
if current == false then current = '0' end
local previous = redis.call('HGET', KEYS[1], 'status')
if previous == false then previous = '' end
local guards = tonumber(ARGV[18])
local first = 20 + guards
local events = tonumber(ARGV[6])
local shift = 0
local since = ''
local rebased = {}
local counted = nil
local last_time = nil
if current ~= ARGV[1] then
  if ARGV[14] == '' or previous ~= 'RUNNING' then return {0, current} end
  if tonumber(current) + events > tonumber(ARGV[19]) then return {0, current} end
  local read = {redis.call('HGET', KEYS[1], 'state') or ''}
  for g = 0, guards - 1 do
    read[#read + 1] = redis.call('HGET', KEYS[4], ARGV[20 + g]) or '\1'
  end
  if redis.sha1hex(table.concat(read, '\0')) ~= ARGV[17] then return {0, current} end
  local now = redis.call('HGET', KEYS[4], ARGV[14])
  if now == false then return {0, current} end
  local r, f, x = string.match(now, '^(%-?%d+),(%-?%d+),(%-?%d+)$')
  local dr, df, dx = string.match(ARGV[15], '^(%-?%d+),(%-?%d+),(%-?%d+)$')
  if r == nil or f + df >= tonumber(ARGV[16]) then return {0, current} end
  counted = (r + dr) .. ',' .. (f + df) .. ',' .. (x + dx)
  shift = tonumber(current) - tonumber(ARGV[1])
  local base = tonumber(ARGV[1])
  since = redis.call('HGET', KEYS[1], 'last_time') or ''
  for e = 0, events - 1 do
    local id, prev, middle, stamp, tail = string.match(ARGV[first + e],
      '^{"id":(%d+),"previous_event_id":(%d+),(.-)"timestamp":"([^"]*)"(.*)$')
    -- timestamps compare as text: both UTC, in the same fixed-width ISO form
    if id == nil or #stamp ~= #since or string.sub(stamp, -6) ~= '+00:00'
        or string.sub(since, -6) ~= '+00:00' then
      return {0, current}
    end
    prev = tonumber(prev)
    if prev > base then prev = prev + shift end
    if stamp < since then stamp = since end
    last_time = stamp
    rebased[e + 1] = '{"id":' .. (tonumber(id) + shift) .. ',"previous_event_id":' .. prev
      .. ',' .. middle .. '"timestamp":"' .. stamp .. '"' .. tail
  end
end
local own = tonumber(ARGV[10])
local carry = ARGV[11] == '1'
local i = first
for e = 1, events do
  redis.call('RPUSH', KEYS[2], rebased[e] or ARGV[i])
  i = i + 1
end
local commands = i
local count = tonumber(ARGV[7])
i = i + count
if carry then
  for c = 0, count - 1 do
    local kind, token, member, score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    if kind == 'task' then
      redis.call('HSET', KEYS[5], token, ARGV[commands + c])
      redis.call('ZADD', KEYS[own + 1], 'NX', score, member)
    elseif kind == 'timer' then
      redis.call('ZADD', KEYS[own + 2], score, member)
    else
      redis.call('ZREM', KEYS[own + 2], member)
    end
    i = i + 4
  end
else
  for c = 0, count - 1 do
    redis.call('RPUSH', KEYS[3], ARGV[commands + c])
  end
end
if carry and ARGV[12] ~= '' then
  redis.call('HDEL', KEYS[5], ARGV[12])
  redis.call('HDEL', KEYS[6], ARGV[12])
  redis.call('ZREM', KEYS[own + 1], ARGV[13])
end
for _ = 1, tonumber(ARGV[8]) do
  if counted ~= nil and ARGV[i] == ARGV[14] then
    redis.call('HSET', KEYS[4], ARGV[i], counted)
  else
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
for _ = 1, tonumber(ARGV[9]) do
  redis.call('HDEL', KEYS[4], ARGV[i])
  i = i + 1
end
local last = tostring(tonumber(ARGV[2]) + shift)
redis.call('HSET', KEYS[1], 'last_event_id', last, 'status', ARGV[4])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'state', ARGV[3])
end
while i < #ARGV do
  if last_time ~= nil and ARGV[i] == 'last_time' then
    redis.call('HSET', KEYS[1], 'last_time', last_time)
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
-- Retention: a finished execution's keys expire together, in this same atomic step; an
-- execution that runs again (redriven) keeps them until it finishes again. Waiters on its
-- end (``wait_stopped``) hear of it on "<prefix>:{<id>}:stopped".
if ARGV[4] ~= previous then
  if ARGV[4] ~= 'RUNNING' then
    redis.call('PUBLISH', string.sub(KEYS[1], 1, -5) .. 'stopped', ARGV[4])
  end
  local ttl = tonumber(ARGV[5])
  for k = 1, own do
    if ARGV[4] ~= 'RUNNING' and ttl > 0 then
      redis.call('PEXPIRE', KEYS[k], ttl)
    elseif ARGV[4] == 'RUNNING' then
      redis.call('PERSIST', KEYS[k])
    end
  end
end
return {1, last, previous, shift, since}
