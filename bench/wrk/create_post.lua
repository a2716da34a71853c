-- POST /api/actions {"type":"POST","content":"…"} as the tenant owner.
-- env: CUMULO_TOKEN (bearer), CUMULO_HOST (Host header)
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CUMULO_TOKEN")
wrk.headers["Host"] = os.getenv("CUMULO_HOST")
request = function()
  n = n + 1
  return wrk.format(nil, "/api/actions", nil, '{"type":"POST","content":"bench post ' .. n .. '"}')
end
local bad = 0
response = function(status, headers, body)
  if status ~= 201 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.stderr:write(string.format("non-201 answers: %d\n", bad))
end
