-- GET one player's balances: the read the game does on join.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

function init(args)
   common_init()
end

function request()
   return wrk.format("GET", "/v1/players/" .. random_player() .. "/balances")
end
