-- POST /v1/transactions/batch: 100 one-entry transactions per request, each with its own fresh key,
-- as a game server flushing its queue does. Amounts alternate +2 / -1 so players both earn and spend.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local per_request = tonumber(os.getenv("BENCH_BATCH_SIZE") or "100")

function init(args)
   common_init()
end

function request()
   local items = {}
   for i = 1, per_request do
      local amount = (i % 2 == 0) and -1 or 2
      items[i] = '{"idempotency_key":"' .. fresh_key() .. '","entries":[{"user_id":' .. random_player() ..
         ',"currency":"coins","amount":' .. amount .. '}],"reason":"bench:batch"}'
   end
   return wrk.format("POST", "/v1/transactions/batch", nil, '{"transactions":[' .. table.concat(items, ",") .. ']}')
end
