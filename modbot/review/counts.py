"""The review page's filter counts, kept as items enter and leave the queues instead of scanned on each load.

{p}review:counts:held and {p}review:counts:escalated are hashes: `rule|{rule}` (the rule that held the item,
"(default)" for none) and `cat|{category}` (each pattern category its matches name, once per item) count the
items waiting in that queue; `built` marks a hash that was counted from the queue once. Every step that puts an
item into a queue, takes it out or moves it (the worker's decision script, a verdict, an escalation) updates the
counts in the same atomic step, from the decision JSON stored for the item, so counts and queue cannot drift.

A queue written before the counts existed has no `built` field: the first page load counts the whole queue in
one Lua script (atomic with the worker, one pass over the queue: a GET and a JSON decode per item), and from then
on only the updates run. A hash without `built` (the worker's updates began before any page load) is rebuilt too.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from modbot.keys import Keys
from modbot.replies import as_str

BUILT = "built"

# Lua functions shared by every script that changes a review queue. `count(key, raw, by)` adds `by` to each of
# the filter fields of the stored decision JSON `raw` (nothing for a missing or unreadable one) and drops fields
# that reach zero, so the hash lists only what the queue holds. Rule and categories are read as
# ReviewItem.decision.rule / ReviewItem.categories read them.
LUA = """
local function facets(raw)
  local ok, d = pcall(cjson.decode, raw)
  if not ok or type(d) ~= 'table' then return {} end
  local rule = d['rule']
  if type(rule) ~= 'string' or rule == '' then rule = '(default)' end
  local out, seen = {'rule|' .. rule}, {}
  if type(d['matches']) == 'table' then
    for _, m in ipairs(d['matches']) do
      local c = type(m) == 'table' and m['category']
      if type(c) == 'string' and not seen[c] then seen[c] = true; out[#out + 1] = 'cat|' .. c end
    end
  end
  return out
end
local function count(key, raw, by)
  if not raw or raw == '' then return end
  for _, f in ipairs(facets(raw)) do
    if redis.call('HINCRBY', key, f, by) <= 0 then redis.call('HDEL', key, f) end
  end
end
"""

# KEYS: 1 queue zset, 2 its counts hash. ARGV: 1 the decision key prefix ({p}decision:).
_REBUILD = LUA + """
redis.call('DEL', KEYS[2])
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  count(KEYS[2], redis.call('GET', ARGV[1] .. id), 1)
end
redis.call('HSET', KEYS[2], '""" + BUILT + """', '1')
return redis.call('HGETALL', KEYS[2])
"""


@dataclass(frozen=True)
class FilterCounts:
    """How many items of one queue each rule held, and how many name each pattern category."""

    rules: dict[str, int]
    categories: dict[str, int]


class QueueCounts:
    """Reads a queue's filter counts (one HGETALL), counting the queue once if it was never counted."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._rebuild = redis.register_script(_REBUILD)

    async def read(self, queue_key: str, counts_key: str, partition: int = 0) -> FilterCounts:
        raw = await self.redis.hgetall(counts_key)
        fields = {as_str(k): as_str(v) for k, v in raw.items()}
        if BUILT not in fields:
            # The decisions it reads are the queue's partition's (in its hash slot, as the queue is).
            flat = await self._rebuild(keys=[queue_key, counts_key], args=[self.keys.part(partition).decision("")])
            fields = {as_str(flat[i]): as_str(flat[i + 1]) for i in range(0, len(flat), 2)}
        rules: dict[str, int] = {}
        categories: dict[str, int] = {}
        for field, value in fields.items():
            kind, _, name = field.partition("|")
            if kind == "rule":
                rules[name] = int(value)
            elif kind == "cat":
                categories[name] = int(value)
        return FilterCounts(rules=rules, categories=categories)
