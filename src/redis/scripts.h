/* The Lua scripts of store.c, one atomic Redis step per lock operation.
 * Times come from Redis TIME only. Fences (microsecond-sized numbers) are
 * returned as strings: Lua 5.1 prints doubles with %.14g.
 * Every key a script touches is one of its KEYS, all in the lock's hash slot.
 * A fence counter holds the last fence, followed on a Redlock node by ":" and
 * the run of the Redis that wrote it (see SCRIPT_ACQUIRE).
 * Tokens never reach Redis: a lock hash's `token` field holds "h:" and the
 * SHA-256 of the token, and scripts are given that hash. A `token` field
 * without the "h:" (a lock written by dlockd 0.1) holds the token itself;
 * such a lock is matched by its SHA-1 (redis.sha1hex), given beside the hash,
 * until it ends. Included by store.c only. */

#define LUA_NOW                                                                                                        \
	"local t = redis.call('TIME')\n"                                                                               \
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* owns(stored, hash, sha1): whether a lock's stored token field is the
 * caller's token, given the token's "h:" hash and its SHA-1 hex. */
#define LUA_OWNS                                                                                                       \
	"local function owns(stored, h, h1)\n"                                                                         \
	"  if not stored or h == '' then return false end\n"                                                           \
	"  if string.sub(stored, 1, 2) == 'h:' then return stored == h end\n"                                          \
	"  return redis.sha1hex(stored) == h1\n"                                                                       \
	"end\n"

/* The line of waiters of one lock: the queue (sorted set, scored by arrival
 * in Redis microseconds) and waitdl (hash: waiter -> the Redis ms until which
 * the entry counts). An entry counts until min(its wait deadline, its last
 * refresh + the liveness window): every attempt of a waiting request refreshes
 * it, so the entries of vanished clients and crashed dlockd instances stop
 * counting by themselves. head_of(q, d, now) prunes entries that no longer
 * count from the head (`now` may be nil: Redis TIME is then read only if the
 * line is not empty) and returns the first that does, or nil, and whether it
 * pruned any. After 100 prunes it returns the next head unchecked. */
#define LUA_HEAD_OF                                                                                                    \
	"local function head_of(q, d, now)\n"                                                                          \
	"  local pruned = false\n"                                                                                     \
	"  for _ = 1, 100 do\n"                                                                                        \
	"    local h = redis.call('ZRANGE', q, 0, 0)[1]\n"                                                             \
	"    if not h then return nil, pruned end\n"                                                                   \
	"    if not now then\n"                                                                                        \
	"      local tm = redis.call('TIME')\n"                                                                        \
	"      now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"                                    \
	"    end\n"                                                                                                    \
	"    if tonumber(redis.call('HGET', d, h) or '0') > now then return h, pruned end\n"                           \
	"    redis.call('ZREM', q, h)\n"                                                                               \
	"    redis.call('HDEL', d, h)\n"                                                                               \
	"    pruned = true\n"                                                                                          \
	"  end\n"                                                                                                      \
	"  return redis.call('ZRANGE', q, 0, 0)[1], pruned\n"                                                          \
	"end\n"

/* KEYS: lock, fence, queue, waitdl. ARGV: 1 new token's hash, 2 ttl_ms, 3
 * has_owner ("1"/"0"), 4 owner, 5 re-acquire token's hash ("" for none), 6
 * its SHA-1, 7 waiter id ("" = do not wait in line), 8 wait_ms left, 9 final
 * ("1": leave the line unless granted), 10 wake channel, 11 fence retention
 * ms, 12 waiter liveness ms, 13 this Redis's run ("" in single-node mode).
 * A re-acquire extends the lock only if it is held now by that token; a free
 * lock is granted under the new token. A free lock goes only to the first
 * waiter in line, or to anyone when the line is empty; a waiter that is not
 * granted joins (or keeps, refreshed) its place. Whenever the line's head
 * changes while the lock is free, the new head is woken; a grant to a waiter
 * also wakes the next one, so it learns the new holder's expiry.
 * Fence of a grant: max(counter + 1, Redis TIME in µs), so it is above every
 * fence issued before even when the counter was lost or restored stale
 * (fences grow by one per grant, far slower than the clock). A Redlock node
 * takes counter + 1 alone when the counter was written in its current run
 * (ARGV 13, from the Redis run_id and replication id dlockd reads at
 * connect): data can go back in time only across a restart or a promotion,
 * which start a new run. So the nodes of a quorum agree on the fence and a
 * grant needs no second fence round. The counter lives for the lease plus
 * the retention.
 * Returns {status, fence, ttl, now, acquired, has_owner, owner, expires,
 * behind}; status 1 = granted (behind = 1 if Redis TIME was not above the
 * counter), 2 = re-acquired (ttl = new lease), 0 = held by another (ttl =
 * remaining), or {3} when the lock is free but offered to an earlier waiter. */
static const char SCRIPT_ACQUIRE[] = LUA_NOW LUA_OWNS LUA_HEAD_OF
    "local me = ARGV[7]\n"
    "local ttl = tonumber(ARGV[2])\n"
    "local function leave_line()\n"
    "  if me ~= '' then redis.call('ZREM', KEYS[3], me); redis.call('HDEL', KEYS[4], me) end\n"
    "end\n"
    "local function stay_in_line()\n"
    "  if me == '' then return end\n"
    "  if ARGV[9] == '1' then leave_line(); return end\n"
    "  local live = math.min(tonumber(ARGV[8]), tonumber(ARGV[12]))\n"
    "  redis.call('ZADD', KEYS[3], 'NX', t[1] .. string.format('%06d', tonumber(t[2])), me)\n"
    "  redis.call('HSET', KEYS[4], me, string.format('%d', now + live))\n"
    "  local keep = live + 5000\n"
    "  if redis.call('PTTL', KEYS[3]) < keep then\n"
    "    redis.call('PEXPIRE', KEYS[3], keep)\n"
    "    redis.call('PEXPIRE', KEYS[4], keep)\n"
    "  end\n"
    "end\n"
    "local cur = redis.call('HMGET', KEYS[1], 'token', 'owner', 'fence', 'acq', 'ho', 'exp')\n"
    "if cur[1] then\n"
    "  if owns(cur[1], ARGV[5], ARGV[6]) then\n"
    "    local exp = string.format('%d', now + ttl)\n"
    "    redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "    redis.call('PEXPIRE', KEYS[2], ttl + tonumber(ARGV[11]))\n"
    "    redis.call('HSET', KEYS[1], 'ttl', ARGV[2], 'exp', exp)\n"
    "    if ARGV[3] == '1' then\n"
    "      redis.call('HSET', KEYS[1], 'owner', ARGV[4], 'ho', '1')\n"
    "      cur[2] = ARGV[4]; cur[5] = '1'\n"
    "    end\n"
    "    leave_line()\n"
    "    return {2, cur[3], ttl, now, cur[4], cur[5] or '0', cur[2] or '', exp, 0}\n"
    "  end\n"
    "  stay_in_line()\n"
    "  return {0, cur[3], redis.call('PTTL', KEYS[1]), now, cur[4], cur[5] or '0', cur[2] or '', cur[6], 0}\n"
    "end\n"
    "local head, pruned = head_of(KEYS[3], KEYS[4], now)\n"
    "if head and head ~= me then\n"
    "  if pruned then redis.call('PUBLISH', ARGV[10], head) end\n"
    "  stay_in_line()\n"
    "  return {3}\n"
    "end\n"
    "if me ~= '' then\n"
    "  leave_line()\n"
    "  local nxt = head_of(KEYS[3], KEYS[4], now)\n"
    "  if nxt then redis.call('PUBLISH', ARGV[10], nxt) end\n"
    "end\n"
    "local clock = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local last, run = string.match(redis.call('GET', KEYS[2]) or '', '^(%d+):?(.*)$')\n"
    "last = tonumber(last)\n"
    "local fence, behind, tag = clock, 0, ARGV[13]\n"
    "if last then\n"
    /* Beyond 2^53 a double no longer counts by one. */
    "  if last >= 9007199254740000 then return redis.error_reply('dlockd: the fence counter is exhausted') end\n"
    "  if last >= clock then behind = 1 end\n"
    "  if behind == 1 or (tag ~= '' and run == tag) then fence = last + 1 end\n"
    "end\n"
    "fence = string.format('%d', fence)\n"
    "redis.call('SET', KEYS[2], tag == '' and fence or fence .. ':' .. tag, 'PX', ttl + tonumber(ARGV[11]))\n"
    "local nows = string.format('%d', now)\n"
    "local exp = string.format('%d', now + ttl)\n"
    "redis.call('HSET', KEYS[1], 'token', ARGV[1], 'owner', ARGV[4], 'ho', ARGV[3], 'fence', fence,\n"
    "           'acq', nows, 'ttl', ARGV[2], 'exp', exp)\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "return {1, fence, ttl, now, nows, ARGV[3], ARGV[4], exp, behind}\n";

/* KEYS: lock. ARGV: token hash, its SHA-1, ttl_ms ("" = the lock's own ttl).
 * (The fence counter is left alone: if it ends before a renewed lease, the
 * next grant takes Redis TIME, which is above the held lock's fence.)
 * Returns {1, fence, ttl, now, acquired, has_owner, owner, expires} when
 * renewed, {-1, fence, remaining, now, acquired, has_owner, owner, expires}
 * on a token mismatch, {0} when not held. */
static const char SCRIPT_RENEW[] = LUA_NOW LUA_OWNS
    "local cur = redis.call('HMGET', KEYS[1], 'token', 'owner', 'fence', 'acq', 'ho', 'ttl', 'exp')\n"
    "if not cur[1] then return {0} end\n"
    "if not owns(cur[1], ARGV[1], ARGV[2]) then\n"
    "  return {-1, cur[3], redis.call('PTTL', KEYS[1]), now, cur[4], cur[5] or '0', cur[2] or '', cur[7]}\n"
    "end\n"
    "local ttl = ARGV[3]\n"
    "if ttl == '' then ttl = cur[6] end\n"
    "local exp = string.format('%d', now + tonumber(ttl))\n"
    "redis.call('HSET', KEYS[1], 'ttl', ttl, 'exp', exp)\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "return {1, cur[3], tonumber(ttl), now, cur[4], cur[5] or '0', cur[2] or '', exp}\n";

/* KEYS: lock, queue, waitdl, fence. ARGV: token hash, its SHA-1, wake
 * channel, fence retention ms.
 * Returns {1} when released (the fence counter then lives for the retention,
 * and the first waiter in line, if any, is woken), {0} when not held, {-1,
 * fence, remaining, now, acquired, has_owner, owner, expires} on a token
 * mismatch. */
static const char SCRIPT_RELEASE[] = LUA_OWNS LUA_HEAD_OF
    "local cur = redis.call('HMGET', KEYS[1], 'token', 'owner', 'fence', 'acq', 'ho', 'exp')\n"
    "if not cur[1] then return {0} end\n"
    "if not owns(cur[1], ARGV[1], ARGV[2]) then\n" LUA_NOW
    "  return {-1, cur[3], redis.call('PTTL', KEYS[1]), now, cur[4], cur[5] or '0', cur[2] or '', cur[6]}\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('PEXPIRE', KEYS[4], ARGV[4])\n"
    "local head = head_of(KEYS[2], KEYS[3], nil)\n"
    "if head then redis.call('PUBLISH', ARGV[3], head) end\n"
    "return {1}\n";

/* KEYS: lock, queue, waitdl. ARGV: waiter id, wake channel.
 * Takes the waiter out of line; if the lock is free, wakes the next in line.
 * Returns 1. */
static const char SCRIPT_LEAVE[] = LUA_HEAD_OF "redis.call('ZREM', KEYS[2], ARGV[1])\n"
                                               "redis.call('HDEL', KEYS[3], ARGV[1])\n"
                                               "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
                                               "  local head = head_of(KEYS[2], KEYS[3], nil)\n"
                                               "  if head then redis.call('PUBLISH', ARGV[2], head) end\n"
                                               "end\n"
                                               "return 1\n";

/* KEYS: lock, fence. ARGV: token hash, its SHA-1, fence, fence retention ms,
 * adopted token's hash ("" for none), this Redis's run (as for acquire).
 * Raises the counter to at least the fence (it then lives at least as long as
 * the lock plus the retention); if the token holds the lock, sets the lock's
 * fence to it and, if one is given, its token to the adopted one. Returns 1. */
static const char SCRIPT_FENCE_FLOOR[] =
    LUA_OWNS "if (tonumber(string.match(redis.call('GET', KEYS[2]) or '', '^%d+')) or 0) < tonumber(ARGV[3]) then\n"
             "  local keep = math.max(redis.call('PTTL', KEYS[1]), 0) + tonumber(ARGV[4])\n"
             "  redis.call('SET', KEYS[2], ARGV[6] == '' and ARGV[3] or ARGV[3] .. ':' .. ARGV[6], 'PX', "
             "math.max(keep, redis.call('PTTL', "
             "KEYS[2])))\n"
             "end\n"
             "if owns(redis.call('HGET', KEYS[1], 'token'), ARGV[1], ARGV[2]) then\n"
             "  redis.call('HSET', KEYS[1], 'fence', ARGV[3])\n"
             "  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'token', ARGV[5]) end\n"
             "end\n"
             "return 1\n";

/* KEYS: lock. Returns {1, fence, remaining, now, acquired, has_owner, owner, expires} or {0}. */
static const char SCRIPT_INSPECT[] = "local cur = redis.call('HMGET', KEYS[1], 'owner', 'fence', 'acq', 'ho', 'exp')\n"
                                     "if not cur[2] then return {0} end\n"
                                     "local pttl = redis.call('PTTL', KEYS[1])\n"
                                     "if pttl < 0 then return {0} end\n" LUA_NOW
                                     "return {1, cur[2], pttl, now, cur[3], cur[4] or '0', cur[1] or '', cur[5]}\n";

/* ARGV: match pattern, scan cursor, resume-after key ("" for none), limit, count hint.
 * Scans at most 16 batches; within a batch, keys are taken in sorted order so a
 * page that fills up mid-batch resumes at (same cursor, last key).
 * Returns {now, next cursor, next after-key, then per lock: key, owner, has_owner,
 * fence, acquired, remaining, expires}. next cursor "0" with after-key "" means done. */
static const char SCRIPT_LIST[] =
    LUA_NOW "local limit = tonumber(ARGV[4])\n"
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
