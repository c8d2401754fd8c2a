/* The Lua scripts of store.c, one atomic Redis step per lock operation.
 * Times come from Redis TIME only. Numbers that can exceed 14 significant
 * digits (fences) are handled as strings: Lua 5.1 prints doubles with %.14g.
 * Included by store.c only. */

/* KEYS: lock, fence. ARGV: new token, ttl_ms, has_owner ("1"/"0"), owner,
 * reacquire token ("" for none).
 * Lock hashes keep 'exp', the absolute expiry (Redis ms) of the current lease,
 * so every view of one lease reports the same instant.
 * Returns {status, fence, ttl, now, acquired, has_owner, owner, expires}; status 1 =
 * granted, 2 = re-acquired (ttl = new lease), 0 = held by another (ttl = remaining). */
static const char SCRIPT_ACQUIRE[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
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
	"    return {2, cur[3], tonumber(ARGV[2]), now, cur[4], cur[5] or '0', cur[2] or '', exp}\n"
	"  end\n"
	"  return {0, cur[3], redis.call('PTTL', KEYS[1]), now, cur[4], cur[5] or '0', cur[2] or '', cur[6]}\n"
	"end\n"
	"local fence\n"
	"if redis.call('EXISTS', KEYS[2]) == 1 then\n"
	"  fence = string.format('%d', redis.call('INCR', KEYS[2]))\n"
	"else\n"
	/* A lost counter restarts from Redis time in microseconds: above every
	 * fence issued before, unless more than a million were issued per second. */
	"  fence = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]\n"
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

/* KEYS: lock. ARGV: token. Returns {1} when released, {0} when not held,
 * {-1, fence, remaining, now, acquired, has_owner, owner, expires} on a token mismatch. */
static const char SCRIPT_RELEASE[] =
	"local cur = redis.call('HMGET', KEYS[1], 'token', 'owner', 'fence', 'acq', 'ho', 'exp')\n"
	"if not cur[1] then return {0} end\n"
	"if cur[1] ~= ARGV[1] then\n"
	"  local t = redis.call('TIME')\n"
	"  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"  return {-1, cur[3], redis.call('PTTL', KEYS[1]), now, cur[4], cur[5] or '0', cur[2] or '', cur[6]}\n"
	"end\n"
	"redis.call('DEL', KEYS[1])\n"
	"return {1}\n";

/* KEYS: lock. Returns {1, fence, remaining, now, acquired, has_owner, owner, expires} or {0}. */
static const char SCRIPT_INSPECT[] =
	"local cur = redis.call('HMGET', KEYS[1], 'owner', 'fence', 'acq', 'ho', 'exp')\n"
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
static const char SCRIPT_LIST[] =
	"local t = redis.call('TIME')\n"
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
