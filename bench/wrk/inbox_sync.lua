-- POST /api/inbox/sync {"token": …} with each token of CUMULO_TOKENS (one
-- per line) exactly once, so every request is a new action to verify and
-- store (a repeat would be answered from the dedup check).
local tokens = {}
for line in io.lines(os.getenv("CUMULO_TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Host"] = os.getenv("CUMULO_HOST")
request = function()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format(nil, "/api/inbox/sync", nil, '{"token":"' .. tokens[i] .. '"}')
end
local bad = 0
response = function(status, headers, body)
  if status ~= 201 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.stderr:write(string.format("non-201 answers: %d, requests %d for %d tokens%s\n", bad, summary.requests, #tokens,
    summary.requests > #tokens and " (REPEATS: rate invalid, use more tokens)" or ""))
end
