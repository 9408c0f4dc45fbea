# bench/jq/transform.jq - what a cron job would do with jq instead of vizfeed:
# composite-aggregation pages in, Vizceral JSON out.
#
#   (echo '{"flow":"edge"}'; cat pages-of-edge...; echo '{"flow":"mesh"}'; ...) |
#     jq -n -c --slurpfile rules bench.json -f transform.jq
#
# Input: a stream of JSON values; {"flow":NAME} says which flow the pages that
# follow belong to (a cron script runs one curl per page and knows it), every
# other value is one answer body of Elasticsearch.
#
# It does what vizfeed does to the same rows: topology resolution (entries in
# order, first service and first region win, CIDRs, exact addresses, regexes
# with \1..\9), the entry node for callers without a service or with an
# address no entry knows, callee-less rows dropped, self calls left out, sums
# instead of doc_count for flows that sum a field, counts per
# (region, service) -> (region, service), rates rounded to 4 significant
# digits, classes from the danger share with min_rate, the root (entry ->
# region, region -> region) and one level per region with its services and
# the other regions it talks to, maxVolume.
#
# It does not: cap services per region (`other`), list hosts, write notices,
# count self calls and drops into metadata, mark stale or degraded flows,
# keep maxVolume between runs, sort the output, cut long names, read IPv6.

def ipv4:
  if test("^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$")
  then split(".") | map(tonumber) | .[0] * 16777216 + .[1] * 65536 + .[2] * 256 + .[3]
  else null end;

def compile:
  map(.match as $m
      | if ($m | length) > 1 and ($m | startswith("/")) and ($m | endswith("/")) then . + {kind: "re", re: $m[1:-1]}
        elif ($m | test("^[0-9.]+(/[0-9]+)?$")) then
          ($m | split("/")) as $p
          | ($p[0] | ipv4) as $a
          | (if ($p | length) > 1 then $p[1] | tonumber else 32 end) as $len
          | (pow(2; 32 - $len)) as $size
          | . + {kind: "net", low: ($a - ($a % $size)), size: $size}
        else . + {kind: "name"} end);

# {matched, ip, service, region} of one raw value.
def lookup($topo):
  . as $v
  | ($v | ipv4) as $ip
  | reduce $topo[] as $e ({matched: false, ip: ($ip != null), service: null, region: null};
      if .service != null and .region != null then .
      elif .matched and (.service != null or $e.service == null) and (.region != null or $e.region == null) then .
      else
        (if $e.kind == "net" then $ip != null and $ip >= $e.low and $ip < $e.low + $e.size
         elif $e.kind == "name" then $v == $e.match
         else $v | test($e.re) end) as $hit
        | if $hit | not then .
          else .matched = true
            | (if .service == null and $e.service != null then
                 .service = (if $e.kind == "re" and ($e.service | test("\\\\[1-9]")) then
                               ([$v | match($e.re).captures[].string]) as $caps
                               | $e.service | gsub("\\\\(?<n>[1-9])"; ($caps[(.n | tonumber) - 1] // ""))
                             else $e.service end)
               else . end)
            | (if .region == null and $e.region != null then .region = $e.region else . end)
          end
      end);

def nonempty: . != null and . != "";

def round4:
  if . == 0 then 0
  else (. | fabs | log10 | floor) as $e | (pow(10; 3 - $e)) as $f | ((. * $f) | round) / $f end;

def class($t; $window):
  ((.[0] + .[1] + .[2]) / $window) as $rate
  | if $rate < $t.min_rate then "normal"
    elif .[2] / (.[0] + .[1] + .[2]) >= $t.danger then "danger"
    elif .[2] / (.[0] + .[1] + .[2]) >= $t.warning then "warning"
    else "normal" end;

def metrics($window): {normal: (.[0] / $window | round4), warning: (.[1] / $window | round4), danger: (.[2] / $window | round4)};

def add3($c): [.[0] + $c[0], .[1] + $c[1], .[2] + $c[2]];

$rules[0] as $r
| ($r.topology | compile) as $topo
| ($r.flows | map({(.name): .sum}) | add) as $sums
| reduce inputs as $doc ({flow: null, edges: {}};
    if $doc.flow then .flow = $doc.flow
    else
      $sums[.flow] as $sum
      | reduce ($doc.aggregations.edges.buckets // [])[] as $b (.;
          $b.key as $k
          | (if $sum then [$b.count.value // 0, $b.warning.count.value // 0, $b.danger.count.value // 0]
             else [$b.doc_count, $b.warning.doc_count // 0, $b.danger.doc_count // 0] end) as $t
          | [$t[0] - $t[1] - $t[2], $t[1], $t[2]] as $c
          | if ($k.to_service | nonempty | not) then .
            else
              ($k.to_service | lookup($topo)) as $to
              | ($to.service // $k.to_service) as $tos
              | (if $k.to_region | nonempty then $k.to_region else $to.region // $r.default_region end) as $tor
              | (if $k.from_service | nonempty then $k.from_service | lookup($topo) else null end) as $from
              | (if $from == null or ($from.ip and ($from.matched | not)) then [$tor, $r.entry]
                 else [(if $k.from_region | nonempty then $k.from_region else $from.region // $r.default_region end),
                       ($from.service // $k.from_service)] end) as $f
              | if $f[0] == $tor and $f[1] == $tos then .
                else ($f[0] + "\u0000" + $f[1] + "\u0000" + $tor + "\u0000" + $tos) as $key
                  | .edges[$key] = ((.edges[$key] // [0, 0, 0]) | add3($c))
                end
            end)
    end)
| .edges
| to_entries
| map((.key | split("\u0000")) as $p | {fr: $p[0], fs: $p[1], tr: $p[2], ts: $p[3], c: .value})
| . as $edges
| ($r.window_s) as $w
| ($edges | map(.tr, (select(.fs != $r.entry) | .fr)) | unique) as $regions
| {
    renderer: "global", name: "edge", entryNode: $r.entry, updated: (now * 1000 | floor),
    nodes: ([{renderer: "region", name: $r.entry, class: "normal"}]
      + ($regions | map(. as $region
          | ($edges | map(select(.tr == $region or (.fr == $region and .fs != $r.entry)))) as $mine
          | ($mine | map(
              if .fs == $r.entry then {source: $r.entry, target: .ts, c}
              elif .fr == $region and .tr == $region then {source: .fs, target: .ts, c}
              elif .fr == $region then {source: .fs, target: .tr, c}
              else {source: .fr, target: .ts, c} end)
             | group_by([.source, .target])
             | map({source: .[0].source, target: .[0].target, c: (reduce .[].c as $x ([0, 0, 0]; add3($x)))})) as $conns
          | {
              renderer: "region", name: $region, updated: (now * 1000 | floor),
              maxVolume: (5 * ($conns | map(.c | add) | max // 0) / $w | round4),
              nodes: ($conns | map(.source, .target) | unique
                      | map(. as $n | {name: $n,
                                       class: ($conns | map(select(.target == $n).c) | reduce .[] as $x ([0, 0, 0]; add3($x))
                                               | if add == 0 then "normal" else class($r.thresholds; $w) end)})),
              connections: ($conns | map({source, target, metrics: (.c | metrics($w)), class: (.c | class($r.thresholds; $w))}))
            }))),
    connections: ($edges
      | map(if .fs == $r.entry then {source: $r.entry, target: .tr, c}
            elif .fr != .tr then {source: .fr, target: .tr, c}
            else empty end)
      | group_by([.source, .target])
      | map({source: .[0].source, target: .[0].target, c: (reduce .[].c as $x ([0, 0, 0]; add3($x)))})
      | map({source, target, metrics: (.c | metrics($w)), class: (.c | class($r.thresholds; $w))}))
  }
