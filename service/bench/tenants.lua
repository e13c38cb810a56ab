-- The tenants mix (service/bench/tenants.py) driven by wrk instead of the built-in
-- Python generator, which shares the machine's two cores with the service and
-- PostgreSQL and took about a fifth of the CPU a run of this mix used (0.37 of 2 cores).
--
-- tenants.py prepends the data: THREADS (wrk's -t), SEED, SLOTS (the shuffled cycle of
-- call kinds, the same as the built-in generator's), READS (kind -> path) and TENANTS
-- ({auth, posts, projects} each). Each wrk thread drives its own share of the tenants
-- (tenant k goes to thread (k - 1) % THREADS), and each tenant walks its own copy of
-- the cycle, so each tenant makes exactly the sequence of calls the lone tenant makes.
--
-- A call names its kind in X-Request-ID, which the service echoes (it keeps a safe
-- incoming id), so that response() knows what it answers: wrk hands it no request.
-- A read counts as a hit or a miss by its Server-Timing header; done() prints the
-- tallies of every thread as one line, `WRKTALLY {json}`, from report(), which the
-- generator's done() calls (service/bench/load_wrk.py).

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(SEED + thread_index)
  mine = {}
  for k, tenant in ipairs(TENANTS) do
    if (k - 1) % THREADS == thread_index then
      table.insert(mine, {auth = tenant.auth, posts = tenant.posts, projects = tenant.projects,
                          slot = 0, post = 0, project = 0})
    end
  end
  -- Per kind, two numbers: hits and misses (reads) or accepted and rejected (writes), as
  -- flat globals `<kind>_1`, `<kind>_2`: report() reads them with thread:get, which
  -- crashes wrk 4.1 on a table of tables.
  for _, kind in ipairs(SLOTS) do _G[kind .. "_1"], _G[kind .. "_2"] = 0, 0 end
end

local function count(kind, which)
  local name = kind .. which
  _G[name] = _G[name] + 1
end

local function next_of(tenant, list, position)
  tenant[position] = tenant[position] % #tenant[list] + 1
  return tenant[list][tenant[position]]
end

local function token()
  return string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

function request()
  local tenant = mine[math.random(#mine)]
  tenant.slot = tenant.slot % #SLOTS + 1
  local kind = SLOTS[tenant.slot]
  local headers = {Authorization = tenant.auth, ["X-Request-ID"] = kind}
  if kind == "by_id" then
    return wrk.format("GET", "/api/posts/" .. next_of(tenant, "posts", "post"), headers)
  end
  if kind == "patch" then
    headers["Content-Type"] = "application/json"
    return wrk.format("PATCH", "/api/posts/" .. next_of(tenant, "posts", "post"), headers,
                      '{"content": "tenant patch ' .. token() .. '"}')
  end
  if kind == "create" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/posts", headers,
                      '{"project_id": "' .. next_of(tenant, "projects", "project") ..
                      '", "content": "tenant create ' .. token() .. '"}')
  end
  return wrk.format("GET", READS[kind], headers)
end

function response(status, headers, body)
  local kind = headers["X-Request-ID"]
  if kind == "create" or kind == "patch" then
    count(kind, (status >= 200 and status < 300) and "_1" or "_2")
  elseif kind == "by_id" or READS[kind] ~= nil then
    local timing = headers["Server-Timing"] or ""
    if timing:find('cache;desc="hit"', 1, true) then
      count(kind, "_1")
    elseif timing:find('cache;desc="miss"', 1, true) then
      count(kind, "_2")
    end
  end
end

function report()
  local parts, seen = {}, {}
  for _, kind in ipairs(SLOTS) do
    if not seen[kind] then
      seen[kind] = true
      local a, b = 0, 0
      for _, thread in ipairs(threads) do
        a, b = a + thread:get(kind .. "_1"), b + thread:get(kind .. "_2")
      end
      table.insert(parts, string.format('"%s": [%d, %d]', kind, a, b))
    end
  end
  io.write("WRKTALLY {" .. table.concat(parts, ", ") .. "}\n")
end
