/* The Lua scripts of store.c, one atomic Redis step per lock operation.
 * Times come from Redis TIME only. Numbers that can exceed 14 significant
 * digits (fences) are handled as strings: Lua 5.1 prints doubles with %.14g.
 * Included by store.c only. */

/* The line of waiters of one lock: KEYS queue (sorted set, scored by arrival
 * in Redis microseconds) and waitdl (hash: waiter -> deadline in Redis ms).
 * A waiter id is "<instance>|<local id>"; its entry is live while its deadline
 * has not passed and its dlockd instance's alive key exists, so entries of
 * vanished clients and crashed replicas are pruned when they reach the head.
 * head_of(queue, waitdl, now, alive_head) prunes dead heads (at most 100 per
 * call) and returns the first live waiter, or nil; `now` (Redis ms) may be
 * nil, and Redis TIME is then read only if the line is not empty. */
#define LUA_HEAD_OF                                                                                                    \
	"local function head_of(q, d, now, alive)\n"                                                                   \
	"  for _ = 1, 100 do\n"                                                                                        \
	"    local h = redis.call('ZRANGE', q, 0, 0)[1]\n"                                                             \
	"    if not h then return nil end\n"                                                                           \
	"    if not now then\n"                                                                                        \
	"      local t = redis.call('TIME')\n"                                                                         \
	"      now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                                      \
	"    end\n"                                                                                                    \
	"    local dl = tonumber(redis.call('HGET', d, h) or '0')\n"                                                   \
	"    local inst = string.match(h, '^([^|]+)|')\n"                                                              \
	"    if dl > now and inst and redis.call('EXISTS', alive .. inst .. '}') == 1 then return h end\n"             \
	"    redis.call('ZREM', q, h)\n"                                                                               \
	"    redis.call('HDEL', d, h)\n"                                                                               \
	"  end\n"                                                                                                      \
	"  return nil\n"                                                                                               \
	"end\n"

#define LUA_NOW                                                                                                        \
	"local t = redis.call('TIME')\n"                                                                               \
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: lock, fence, queue, waitdl. ARGV: 1 new token, 2 ttl_ms, 3 has_owner
 * ("1"/"0"), 4 owner, 5 reacquire token ("" for none), 6 waiter id ("" = do not
 * wait in line), 7 wait_ms left, 8 alive-key head, 9 final ("1": leave the line
 * unless granted), 10 wake channel.
 * A grant to a waiter wakes the next in line, so it learns the new holder's
 * expiry (it keeps a timer for it).
 * Lock hashes keep 'exp', the absolute expiry (Redis ms) of the current lease,
 * so every view of one lease reports the same instant.
 * A free lock goes only to the first live waiter in line, or to anyone when the
 * line is empty; a waiter that is not granted joins (or keeps) its place.
 * Returns {status, fence, ttl, now, acquired, has_owner, owner, expires}; status
 * 1 = granted, 2 = re-acquired (ttl = new lease), 0 = held by another (ttl =
 * remaining), or {3} when the lock is free but offered to an earlier waiter. */
static const char SCRIPT_ACQUIRE[] = LUA_NOW LUA_HEAD_OF
    "local me = ARGV[6]\n"
    "local function stay_in_line()\n"
    "  if me == '' then return end\n"
    "  if ARGV[9] == '1' then\n"
    "    redis.call('ZREM', KEYS[3], me)\n"
    "    redis.call('HDEL', KEYS[4], me)\n"
    "    return\n"
    "  end\n"
    "  redis.call('ZADD', KEYS[3], 'NX', t[1] .. string.format('%06d', tonumber(t[2])), me)\n"
    "  redis.call('HSET', KEYS[4], me, string.format('%d', now + tonumber(ARGV[7])))\n"
    "  local keep = tonumber(ARGV[7]) + 10000\n"
    "  if redis.call('PTTL', KEYS[3]) < keep then\n"
    "    redis.call('PEXPIRE', KEYS[3], keep)\n"
    "    redis.call('PEXPIRE', KEYS[4], keep)\n"
    "  end\n"
    "end\n"
    "local cur = redis.call('HMGET', KEYS[1], 'token', 'owner', 'fence', 'acq', 'ho', 'exp')\n"
    "if cur[1] then\n"
    "  if ARGV[5] ~= '' and cur[1] == ARGV[5] then\n"
    "    local exp = string.format('%d', now + tonumber(ARGV[2]))\n"
    "    redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "    redis.call('HSET', KEYS[1], 'ttl', ARGV[2], 'exp', exp)\n"
    "    if ARGV[3] == '1' then\n"
    "      redis.call('HSET', KEYS[1], 'owner', ARGV[4], 'ho', '1')\n"
    "      cur[2] = ARGV[4]; cur[5] = '1'\n"
    "    end\n"
    "    if me ~= '' then redis.call('ZREM', KEYS[3], me); redis.call('HDEL', KEYS[4], me) end\n"
    "    return {2, cur[3], tonumber(ARGV[2]), now, cur[4], cur[5] or '0', cur[2] or '', exp}\n"
    "  end\n"
    "  stay_in_line()\n"
    "  return {0, cur[3], redis.call('PTTL', KEYS[1]), now, cur[4], cur[5] or '0', cur[2] or '', cur[6]}\n"
    "end\n"
    "local head = head_of(KEYS[3], KEYS[4], now, ARGV[8])\n"
    "if head and head ~= me then\n"
    "  stay_in_line()\n"
    "  return {3}\n"
    "end\n"
    "if me ~= '' then\n"
    "  redis.call('ZREM', KEYS[3], me); redis.call('HDEL', KEYS[4], me)\n"
    "  local nxt = head_of(KEYS[3], KEYS[4], now, ARGV[8])\n"
    "  if nxt then redis.call('PUBLISH', ARGV[10], nxt) end\n"
    "end\n"
    "local fence = redis.call('INCR', KEYS[2])\n"
    "if fence > 1 then\n"
    "  fence = string.format('%d', fence)\n"
    "else\n"
    /* A lost counter restarts from Redis time in microseconds: above every
     * fence issued before, unless more than a million were issued per second. */
    "  fence = t[1] .. string.format('%06d', tonumber(t[2]))\n"
    "  redis.call('SET', KEYS[2], fence)\n"
    "end\n"
    "local nows = string.format('%d', now)\n"
    "local exp = string.format('%d', now + tonumber(ARGV[2]))\n"
    "redis.call('HSET', KEYS[1], 'token', ARGV[1], 'owner', ARGV[4], 'ho', ARGV[3], 'fence', fence,\n"
    "           'acq', nows, 'ttl', ARGV[2], 'exp', exp)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return {1, fence, tonumber(ARGV[2]), now, nows, ARGV[3], ARGV[4], exp}\n";

/* KEYS: lock. ARGV: token, ttl_ms ("" = the lock's own ttl).
 * Returns {1, fence, ttl, now, acquired, has_owner, owner, expires} when
 * renewed, {-1, fence, remaining, now, acquired, has_owner, owner, expires} on a token mismatch, {0} when not held. */
static const char SCRIPT_RENEW[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local cur = redis.call('HMGET', KEYS[1], 'token', 'owner', 'fence', 'acq', 'ho', 'ttl', 'exp')\n"
    "if not cur[1] then return {0} end\n"
    "if cur[1] ~= ARGV[1] then\n"
    "  return {-1, cur[3], redis.call('PTTL', KEYS[1]), now, cur[4], cur[5] or '0', cur[2] or '', cur[7]}\n"
    "end\n"
    "local ttl = ARGV[2]\n"
    "if ttl == '' then ttl = cur[6] end\n"
    "local exp = string.format('%d', now + tonumber(ttl))\n"
    "redis.call('HSET', KEYS[1], 'ttl', ttl, 'exp', exp)\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "return {1, cur[3], tonumber(ttl), now, cur[4], cur[5] or '0', cur[2] or '', exp}\n";

/* KEYS: lock, queue, waitdl. ARGV: token, alive-key head, wake channel.
 * Returns {1} when released (and publishes the first live waiter's id, if
 * any, on the wake channel), {0} when not held, {-1, fence, remaining, now,
 * acquired, has_owner, owner, expires} on a token mismatch. */
static const char SCRIPT_RELEASE[] =
    LUA_HEAD_OF "local cur = redis.call('HMGET', KEYS[1], 'token', 'owner', 'fence', 'acq', 'ho', 'exp')\n"
                "if not cur[1] then return {0} end\n"
                "if cur[1] ~= ARGV[1] then\n" LUA_NOW
                "  return {-1, cur[3], redis.call('PTTL', KEYS[1]), now, cur[4], cur[5] or '0', cur[2] or '', cur[6]}\n"
                "end\n"
                "redis.call('DEL', KEYS[1])\n"
                "local head = head_of(KEYS[2], KEYS[3], nil, ARGV[2])\n"
                "if head then redis.call('PUBLISH', ARGV[3], head) end\n"
                "return {1}\n";

/* KEYS: lock, queue, waitdl. ARGV: waiter id, alive-key head, wake channel.
 * Takes the waiter out of line; if the lock is free, wakes the next in line.
 * Returns 1. */
static const char SCRIPT_LEAVE[] = LUA_HEAD_OF "redis.call('ZREM', KEYS[2], ARGV[1])\n"
                                               "redis.call('HDEL', KEYS[3], ARGV[1])\n"
                                               "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
                                               "  local head = head_of(KEYS[2], KEYS[3], nil, ARGV[2])\n"
                                               "  if head then redis.call('PUBLISH', ARGV[3], head) end\n"
                                               "end\n"
                                               "return 1\n";

/* KEYS: lock, fence. ARGV: token, fence. Raises the counter to at least the
 * fence, and the lock's fence to it if the token holds the lock. Returns 1. */
static const char SCRIPT_FENCE_FLOOR[] =
    "local f = tonumber(ARGV[2])\n"
    "if tonumber(redis.call('GET', KEYS[2]) or '0') < f then redis.call('SET', KEYS[2], ARGV[2]) end\n"
    "if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then redis.call('HSET', KEYS[1], 'fence', ARGV[2]) end\n"
    "return 1\n";

/* KEYS: lock. Returns {1, fence, remaining, now, acquired, has_owner, owner, expires} or {0}. */
static const char SCRIPT_INSPECT[] = "local cur = redis.call('HMGET', KEYS[1], 'owner', 'fence', 'acq', 'ho', 'exp')\n"
                                     "if not cur[2] then return {0} end\n"
                                     "local pttl = redis.call('PTTL', KEYS[1])\n"
                                     "if pttl < 0 then return {0} end\n"
                                     "local t = redis.call('TIME')\n"
                                     "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
                                     "return {1, cur[2], pttl, now, cur[3], cur[4] or '0', cur[1] or '', cur[5]}\n";

/* ARGV: match pattern, scan cursor, resume-after key ("" for none), limit, count hint.
 * Scans at most 16 batches; within a batch, keys are taken in sorted order so a
 * page that fills up mid-batch resumes at (same cursor, last key).
 * Returns {now, next cursor, next after-key, then per lock: key, owner, has_owner,
 * fence, acquired, remaining, expires}. next cursor "0" with after-key "" means done. */
static const char SCRIPT_LIST[] = "local t = redis.call('TIME')\n"
                                  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
                                  "local limit = tonumber(ARGV[4])\n"
                                  "local cursor, after = ARGV[2], ARGV[3]\n"
                                  "local out = {now, '0', ''}\n"
                                  "local n = 0\n"
                                  "for _ = 1, 16 do\n"
                                  "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', ARGV[5])\n"
                                  "  local batch = r[2]\n"
                                  "  table.sort(batch)\n"
                                  "  for _, k in ipairs(batch) do\n"
                                  "    if after == '' or k > after then\n"
                                  "      local v = redis.call('HMGET', k, 'owner', 'ho', 'fence', 'acq', 'exp')\n"
                                  "      local pttl = redis.call('PTTL', k)\n"
                                  "      if v[3] and pttl > 0 then\n"
                                  "        if n == limit then\n"
                                  "          out[2] = cursor; out[3] = out[#out - 6]\n"
                                  "          return out\n"
                                  "        end\n"
                                  "        n = n + 1\n"
                                  "        out[#out + 1] = k; out[#out + 1] = v[1] or ''; out[#out + 1] = v[2] or '0'\n"
                                  "        out[#out + 1] = v[3]; out[#out + 1] = v[4] or '0'; out[#out + 1] = pttl\n"
                                  "        out[#out + 1] = v[5]\n"
                                  "      end\n"
                                  "    end\n"
                                  "  end\n"
                                  "  cursor, after = r[1], ''\n"
                                  "  if cursor == '0' or n >= limit then break end\n"
                                  "end\n"
                                  "out[2] = cursor\n"
                                  "return out\n";
