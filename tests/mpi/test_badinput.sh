#!/bin/bash
# tests/mpi/test_badinput.sh: bad input gives a one-line cause on stderr and a
# non-zero exit, never a crash or a hang.
source "$(dirname "$0")/common.sh"

expect 2 "unknown command" "$BIN" frobnicate
expect 2 "unknown option '--bogus'" "$BIN" synth --bogus
expect 2 "out of range" "$BIN" synth --industries 1 --out "$TMP/x"
expect 2 "at least 2 MPI ranks" run 1 train $SMALL --rounds 1
expect 2 "unknown option" run 3 train --rounds 2 --frob 1
expect 2 "not one of" run 3 train --algo magic
expect 1 "manifest" run 3 train --data "$TMP/does-not-exist" --rounds 1 --heldout home
mkdir -p "$TMP/bad"; echo "not a manifest" > "$TMP/bad/manifest.txt"
expect 1 "manifest.txt:1" run 3 train --data "$TMP/bad" --rounds 1 --heldout home
expect 1 "no industry called" run 3 train $SMALL --heldout nosuch --rounds 1
expect 2 "no industry called" "$BIN" eval --model "$TMP/none.pb" --platform nosuch $MARKET
expect 1 "cannot open" "$BIN" eval --model "$TMP/none.pb" --platform home
echo garbage > "$TMP/garbage.pb"
expect 1 "garbage.pb" "$BIN" eval --model "$TMP/garbage.pb" --platform home
# a corrupted shard is refused by the rank that opens it, and the job stops
"$BIN" synth $MARKET --out "$TMP/m" > /dev/null
f=$(ls "$TMP/m"/*.shard | head -1)
printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
expect 1 "$(basename "$f")" run 3 train --data "$TMP/m" --heldout home $SMALL --rounds 1
echo "test_badinput: ok"
