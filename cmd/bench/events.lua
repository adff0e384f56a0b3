-- wrk script for POST /v1/events: ~10k visitors, ~50 paths, timestamps spread
-- over the last hour, a random eventId per request (so every 202 is one new
-- row and the bench can compare answers with rows exactly).
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  -- args[1] tells two wrk processes started in the same second apart.
  math.randomseed(os.time() * 1000 + id + (tonumber(args[1]) or 0) * 7919)
  accepted, other = 0, 0
end

local random, format, date, time = math.random, string.format, os.date, os.time
local paths = {}
for i = 1, 50 do paths[i] = "/page-" .. i end
local agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
local headers = {["Content-Type"] = "text/plain;charset=UTF-8", ["User-Agent"] = agent}

request = function()
  local ts = time() - random(0, 3600)
  local body = format(
    '{"eventId":"%04x%04x-%04x-4%03x-%x%03x-%06x%06x","anonId":"visitor-%05d","eventType":"page_view","path":"%s","timestamp":"%s.%03dZ","referrer":"https://www.google.com/"}',
    random(0, 0xffff), random(0, 0xffff), random(0, 0xffff), random(0, 0xfff), random(8, 11), random(0, 0xfff),
    random(0, 0xffffff), random(0, 0xffffff), random(1, 10000), paths[random(1, 50)],
    date("!%Y-%m-%dT%H:%M:%S", ts), random(0, 999))
  return wrk.format("POST", "/v1/events", headers, body)
end

response = function(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end

done = function(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    o = o + t:get("other")
  end
  io.write(string.format("ACCEPTED %d OTHER %d\n", a, o))
end
