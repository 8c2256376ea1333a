-- POST /v1/transactions: one entry (a grant of 1 coin to a random player), a fresh Idempotency-Key each.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

function init(args)
   common_init()
end

function request()
   local body = '{"entries":[{"user_id":' .. random_player() ..
      ',"currency":"coins","amount":1}],"reason":"bench:single"}'
   return wrk.format("POST", "/v1/transactions", headers_with_key(fresh_key()), body)
end
