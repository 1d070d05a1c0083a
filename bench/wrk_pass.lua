-- wrk script for bench/issuance.py and bench/authz.py: send one kind of request, count
-- every response that is not 200, and print one machine-readable summary line.
--
-- Usage: wrk ... -s wrk_pass.lua [-H "Name: value" ...] URL [-- FORM_BODY]
-- The headers go through wrk's own -H. With a body after "--", every request POSTs it
-- as a form (a token request); without one, every request is a GET (an /authz check).
-- (The arguments reach init(); the request is built after init(), so setting it there works.)

local threads = {}

function setup(thread)
  -- Kept so that done(), which runs in the main Lua state, can read each thread's counter.
  table.insert(threads, thread)
end

function init(args)
  non_200 = 0
  if args[1] ~= nil then
    wrk.method = "POST"
    wrk.body = args[1]
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
end

function response(status, headers, body)
  -- wrk itself only counts statuses > 399; a 201, 204 or 3xx would be just as wrong here.
  if status ~= 200 then
    non_200 = non_200 + 1
  end
end

function done(summary, latency, requests)
  local non_200_total = 0
  for _, thread in ipairs(threads) do
    non_200_total = non_200_total + thread:get("non_200")
  end
  local e = summary.errors
  io.write(string.format(
    'GATEKEY_BENCH {"requests": %d, "duration_us": %d, "non_200": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, non_200_total,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
