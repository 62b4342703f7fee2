#!/bin/sh
# bench/pg_batch_forms.c's cells, interleaved (today, unnest, pipeline at
# each batch size), two rounds, against PORT on 127.0.0.1 (a private cluster
# with the module's schema). PGOPTIONS="-c synchronous_commit=off" leaves the
# commit's flush out, to compare the statements' own cost.
# Usage: bench/pg_batch_forms.sh PATH-TO-BINARY PORT [SECONDS]
set -eu
bin=$1 port=$2 secs=${3:-3}
for round in 1 2; do
  for audited in 0 1; do
    for n in 1 8 32 64; do
      for form in today unnest pipeline; do
        "$bin" "host=127.0.0.1 port=$port dbname=remoteassist user=postgres" $form $n $audited "$secs"
      done
    done
  done
  uptime
done
