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
 * until it ends.
 * Data that dlockd did not write (another program's key, a key edited by
 * hand) is never written over: a script checks the keys it uses before its
 * first write and answers an error reply "DLOCKD_INVALID_DATA <what is
 * wrong>" (the key kind and the fault, never a value) or, for a fence counter
 * at or above LOCK_FENCE_MAX (lock.h), "DLOCKD_FENCE_EXHAUSTED <why>"; the
 * list script skips such keys and counts them. Included by store.c only. */

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

/* bad(why): the error reply for data that dlockd did not write. */
#define LUA_BAD "local function bad(why) return redis.error_reply('DLOCKD_INVALID_DATA ' .. why) end\n"

/* lock_problem(c): what is wrong with the fields c of a lock hash (token,
 * owner, fence, acq, ho, ttl, exp, as HMGET gives them), or nil: fence, acq,
 * ttl and exp must be whole numbers below 2^53 (ttl above 0), ho 0 or 1 if
 * present, an owner at most 256 bytes.
 * read_lock(k): the lock hash at k as those fields, or nil if there is none;
 * and what is wrong with it, or nil. */
#define LUA_READ_LOCK                                                                                                  \
	"local NUMERIC = {{3, 'fence'}, {4, 'acq'}, {6, 'ttl'}, {7, 'exp'}}\n"                                         \
	"local function lock_problem(c)\n"                                                                             \
	"  if not c[1] then return 'the lock hash has no token field' end\n"                                           \
	"  for _, f in ipairs(NUMERIC) do\n"                                                                           \
	"    local v = c[f[1]]\n"                                                                                      \
	"    if not v or not string.find(v, '^%d+$') or tonumber(v) >= 9007199254740992 then\n"                        \
	"      return 'the ' .. f[2] .. ' field of the lock hash is missing or not a whole number below 2^53'\n"       \
	"    end\n"                                                                                                    \
	"  end\n"                                                                                                      \
	"  if tonumber(c[6]) < 1 then return 'the ttl field of the lock hash is 0' end\n"                              \
	"  if c[5] and c[5] ~= '0' and c[5] ~= '1' then return 'the ho field of the lock hash is not 0 or 1' end\n"    \
	"  if c[2] and #c[2] > 256 then return 'the owner field of the lock hash is longer than 256 bytes' end\n"      \
	"end\n"                                                                                                        \
	"local function read_lock(k)\n"                                                                                \
	"  local c = redis.pcall('HMGET', k, 'token', 'owner', 'fence', 'acq', 'ho', 'ttl', 'exp')\n"                  \
	"  if c.err then return nil, 'the lock key holds a ' .. redis.call('TYPE', k).ok .. ', not a hash' end\n"      \
	"  if not c[1] and redis.call('EXISTS', k) == 0 then return nil end\n"                                         \
	"  return c, lock_problem(c)\n"                                                                                \
	"end\n"

/* line_problem(q, d, both): what is wrong with the types of a line's keys
 * (queue q, waitdl d), or nil; and whether q exists. d is checked only if q
 * exists or `both` (the caller writes to d whatever q holds). */
#define LUA_LINE_PROBLEM                                                                                               \
	"local function line_problem(q, d, both)\n"                                                                    \
	"  local t = redis.call('TYPE', q).ok\n"                                                                       \
	"  if t ~= 'none' and t ~= 'zset' then\n"                                                                      \
	"    return 'the queue key of the line of waiters holds a ' .. t .. ', not a sorted set', false\n"             \
	"  end\n"                                                                                                      \
	"  if t == 'none' and not both then return nil, false end\n"                                                   \
	"  local u = redis.call('TYPE', d).ok\n"                                                                       \
	"  if u ~= 'none' and u ~= 'hash' then\n"                                                                      \
	"    return 'the waitdl key of the line of waiters holds a ' .. u .. ', not a hash', false\n"                  \
	"  end\n"                                                                                                      \
	"  return nil, t ~= 'none'\n"                                                                                  \
	"end\n"

/* The line of waiters of one lock: the queue (sorted set, scored by arrival
 * in Redis microseconds) and waitdl (hash: waiter -> the Redis ms until which
 * the entry counts). An entry counts until min(its wait deadline, its last
 * refresh + the liveness window): every attempt of a waiting request refreshes
 * it, so the entries of vanished clients and crashed dlockd instances stop
 * counting by themselves. head_of(q, d, now) prunes entries that no longer
 * count from the head (`now` may be nil: Redis TIME is then read only if the
 * line is not empty) and returns the first that does, or nil, and whether it
 * pruned any; an entry whose time is not a number no longer counts. After 100
 * prunes it returns the next head unchecked. The caller has checked the types
 * of q and d (line_problem). */
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
	"    if (tonumber(redis.call('HGET', d, h)) or 0) > now then return h, pruned end\n"                           \
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
 * the retention. A counter at or above LOCK_FENCE_MAX (2^53 - 1) leaves no
 * fence to issue: DLOCKD_FENCE_EXHAUSTED.
 * Checks the lock hash and the line's keys (both only when waiting in line,
 * see line_problem), and the counter when the lock is free.
 * Returns {status, fence, ttl, now, acquired, has_owner, owner, expires,
 * behind}; status 1 = granted (behind = 1 if Redis TIME was not above the
 * counter), 2 = re-acquired (ttl = new lease), 0 = held by another (ttl =
 * remaining), or {3} when the lock is free but offered to an earlier waiter. */
static const char SCRIPT_ACQUIRE[] = LUA_NOW LUA_OWNS LUA_BAD LUA_READ_LOCK LUA_LINE_PROBLEM LUA_HEAD_OF
    "local me = ARGV[7]\n"
    "local ttl = tonumber(ARGV[2])\n"
    /* The common case: no lock and no line (none of the three keys). */
    "local fresh = redis.call('EXISTS', KEYS[1], KEYS[3], KEYS[4]) == 0\n"
    "local cur, why, queued\n"
    "if not fresh then\n"
    "  cur, why = read_lock(KEYS[1])\n"
    "  if why then return bad(why) end\n"
    "  why, queued = line_problem(KEYS[3], KEYS[4], me ~= '')\n"
    "  if why then return bad(why) end\n"
    "end\n"
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
    "if cur then\n"
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
    "  local left = redis.call('PTTL', KEYS[1])\n"
    "  if left == -1 then return bad('the lock hash has no expiry') end\n"
    "  stay_in_line()\n"
    "  return {0, cur[3], left, now, cur[4], cur[5] or '0', cur[2] or '', cur[7], 0}\n"
    "end\n"
    "local last, run\n"
    "local counter = redis.pcall('GET', KEYS[2])\n"
    "if type(counter) == 'table' then\n"
    "  return bad('the fence counter holds a ' .. redis.call('TYPE', KEYS[2]).ok .. ', not a string')\n"
    "end\n"
    "if counter then\n"
    "  last, run = string.match(counter, '^(%d+):(%x+)$')\n"
    "  if not last then last, run = string.match(counter, '^%d+$'), '' end\n"
    "  if not last then return bad('the fence counter is not a number') end\n"
    "  last = tonumber(last)\n"
    /* Beyond 2^53 a double no longer counts by one, nor JSON clients. */
    "  if last >= 9007199254740991 then\n"
    "    return redis.error_reply('DLOCKD_FENCE_EXHAUSTED the fence counter is at or above 2^53 - 1')\n"
    "  end\n"
    "end\n"
    "local head, pruned\n"
    "if queued then head, pruned = head_of(KEYS[3], KEYS[4], now) end\n"
    "if head and head ~= me then\n"
    "  if pruned then redis.call('PUBLISH', ARGV[10], head) end\n"
    "  stay_in_line()\n"
    "  return {3}\n"
    "end\n"
    "if me ~= '' and not fresh then\n"
    "  leave_line()\n"
    "  local nxt = head_of(KEYS[3], KEYS[4], now)\n"
    "  if nxt then redis.call('PUBLISH', ARGV[10], nxt) end\n"
    "end\n"
    "local clock = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local fence, behind, tag = clock, 0, ARGV[13]\n"
    "if last then\n"
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
 * Checks the lock hash. Returns {1, fence, ttl, now, acquired, has_owner,
 * owner, expires} when renewed, {-1, fence, remaining, now, acquired,
 * has_owner, owner, expires} on a token mismatch, {0} when not held. */
static const char SCRIPT_RENEW[] = LUA_NOW LUA_OWNS LUA_BAD LUA_READ_LOCK
    "local cur, why = read_lock(KEYS[1])\n"
    "if why then return bad(why) end\n"
    "if not cur then return {0} end\n"
    "if not owns(cur[1], ARGV[1], ARGV[2]) then\n"
    "  local left = redis.call('PTTL', KEYS[1])\n"
    "  if left == -1 then return bad('the lock hash has no expiry') end\n"
    "  return {-1, cur[3], left, now, cur[4], cur[5] or '0', cur[2] or '', cur[7]}\n"
    "end\n"
    "local ttl = ARGV[3]\n"
    "if ttl == '' then ttl = cur[6] end\n"
    "local exp = string.format('%d', now + tonumber(ttl))\n"
    "redis.call('HSET', KEYS[1], 'ttl', ttl, 'exp', exp)\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "return {1, cur[3], tonumber(ttl), now, cur[4], cur[5] or '0', cur[2] or '', exp}\n";

/* KEYS: lock, queue, waitdl, fence. ARGV: token hash, its SHA-1, wake
 * channel, fence retention ms.
 * Checks the lock hash, and the line's keys before it releases.
 * Returns {1} when released (the fence counter then lives for the retention,
 * and the first waiter in line, if any, is woken), {0} when not held, {-1,
 * fence, remaining, now, acquired, has_owner, owner, expires} on a token
 * mismatch. */
static const char SCRIPT_RELEASE[] = LUA_OWNS LUA_BAD LUA_READ_LOCK LUA_LINE_PROBLEM LUA_HEAD_OF
    /* A token field equal to the caller's hash: a lock dlockd wrote for
     * this caller, released without reading the rest. */
    "if ARGV[1] == '' or redis.pcall('HGET', KEYS[1], 'token') ~= ARGV[1] then\n"
    "  local cur, why = read_lock(KEYS[1])\n"
    "  if why then return bad(why) end\n"
    "  if not cur then return {0} end\n"
    "  if not owns(cur[1], ARGV[1], ARGV[2]) then\n" LUA_NOW "    local left = redis.call('PTTL', KEYS[1])\n"
    "    if left == -1 then return bad('the lock hash has no expiry') end\n"
    "    return {-1, cur[3], left, now, cur[4], cur[5] or '0', cur[2] or '', cur[7]}\n"
    "  end\n"
    "end\n"
    "local line_why, queued = line_problem(KEYS[2], KEYS[3], false)\n"
    "if line_why then return bad(line_why) end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('PEXPIRE', KEYS[4], ARGV[4])\n"
    "if queued then\n"
    "  local head = head_of(KEYS[2], KEYS[3], nil)\n"
    "  if head then redis.call('PUBLISH', ARGV[3], head) end\n"
    "end\n"
    "return {1}\n";

/* KEYS: lock, queue, waitdl. ARGV: waiter id, wake channel.
 * Takes the waiter out of line; if the lock is free, wakes the next in line.
 * Checks the line's keys. Returns 1. */
static const char SCRIPT_LEAVE[] =
    LUA_BAD LUA_LINE_PROBLEM LUA_HEAD_OF "local why = line_problem(KEYS[2], KEYS[3], true)\n"
                                         "if why then return bad(why) end\n"
                                         "redis.call('ZREM', KEYS[2], ARGV[1])\n"
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
 * fence to it and, if one is given, its token to the adopted one. Returns 1.
 * (Called only for a node that has just granted the name, whose keys the
 * acquire script checked.) */
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

/* KEYS: lock. Checks the lock hash. Returns {1, fence, remaining, now,
 * acquired, has_owner, owner, expires} or {0}. */
static const char SCRIPT_INSPECT[] =
    LUA_BAD LUA_READ_LOCK "local cur, why = read_lock(KEYS[1])\n"
                          "if why then return bad(why) end\n"
                          "if not cur then return {0} end\n"
                          "local pttl = redis.call('PTTL', KEYS[1])\n"
                          "if pttl == -1 then return bad('the lock hash has no expiry') end\n"
                          "if pttl < 0 then return {0} end\n" LUA_NOW
                          "return {1, cur[3], pttl, now, cur[4], cur[5] or '0', cur[2] or '', cur[7]}\n";

/* ARGV: match pattern, scan cursor, resume-after key ("" for none), limit,
 * count hint, the lock keys' head ("<prefix>lock:{").
 * Scans at most 16 batches; within a batch, keys are taken in sorted order so a
 * page that fills up mid-batch resumes at (same cursor, last key). A key that
 * is not a dlockd lock (another type, a field lock_problem finds wrong, no
 * expiry, a name that is not 1-255 bytes of A-Z a-z 0-9 . _ - : @ in braces)
 * is skipped and counted once: those after the page's last lock are counted
 * by the page that resumes there. Keys that vanish while the page is made
 * are not counted, nor keys the node refuses to read (on a Redis Cluster
 * master, a key of a slot being migrated into it and not yet its own: a list
 * made during a migration may miss such a lock). Never raises: the key reads are
 * pcalls.
 * Returns {now, next cursor, next after-key, keys skipped, the first key
 * skipped ("" for none), then per lock: key, owner, has_owner, fence,
 * acquired, remaining, expires}. next cursor "0" with after-key "" means done. */
static const char SCRIPT_LIST[] = LUA_NOW LUA_READ_LOCK
    "local head = ARGV[6]\n"
    "local function named(k)\n"
    "  local n = #k - #head - 1\n"
    "  return n >= 1 and n <= 255 and string.sub(k, 1, #head) == head and\n"
    "         string.find(k, '^[%w%.:@_%-]+}$', #head + 1) ~= nil\n"
    "end\n"
    "local limit = tonumber(ARGV[4])\n"
    "local cursor, after = ARGV[2], ARGV[3]\n"
    "local out = {now, '0', '', 0, ''}\n"
    "local n, held, held_first = 0, 0, ''\n"
    "local function count_held()\n"
    "  out[4] = out[4] + held\n"
    "  if out[5] == '' then out[5] = held_first end\n"
    "  held, held_first = 0, ''\n"
    "end\n"
    "for _ = 1, 16 do\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', ARGV[5])\n"
    "  local batch = r[2]\n"
    "  table.sort(batch)\n"
    "  for _, k in ipairs(batch) do\n"
    "    if after == '' or k > after then\n"
    "      local v = redis.pcall('HMGET', k, 'token', 'owner', 'fence', 'acq', 'ho', 'ttl', 'exp')\n"
    "      local pttl = redis.pcall('PTTL', k)\n"
    "      if type(pttl) ~= 'number' then pttl = -2 end\n"
    "      if pttl == -1 or (pttl > 0 and (v.err or not named(k) or lock_problem(v))) then\n"
    "        held = held + 1\n"
    "        if held_first == '' then held_first = k end\n"
    "      elseif pttl > 0 then\n"
    "        if n == limit then\n"
    "          out[2] = cursor; out[3] = out[#out - 6]\n"
    "          return out\n"
    "        end\n"
    "        count_held()\n"
    "        n = n + 1\n"
    "        out[#out + 1] = k; out[#out + 1] = v[2] or ''; out[#out + 1] = v[5] or '0'\n"
    "        out[#out + 1] = v[3]; out[#out + 1] = v[4]; out[#out + 1] = pttl\n"
    "        out[#out + 1] = v[7]\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  count_held()\n"
    "  cursor, after = r[1], ''\n"
    "  if cursor == '0' or n >= limit then break end\n"
    "end\n"
    "out[2] = cursor\n"
    "return out\n";
