#!/bin/sh
# bench/run.sh: build the bench/loops/*.s programs and time each one
# natively, under qemu-x86_64 (when installed) and under `klpsim elf`.
#
# usage: bench/run.sh [PROGRAM...]     (default: every bench/loops/*.s)
# (klpsim bench interp measures the same without binutils: bench/README.md)
# env:   REPEAT=N  runs per measurement, the best (minimum) is kept (3)
#
# Needs as and ld (binutils). qemu-user is optional:
#   apt-get install -y qemu-user
# hyperfine is used for the timings when it is installed.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
REPEAT=${REPEAT:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in as ld go; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 2; }
done
qemu=$(command -v qemu-x86_64 || true)
hyperfine=$(command -v hyperfine || true)

go build -o "$tmp/klpsim" ./cmd/klpsim

if [ $# -eq 0 ]; then
	set -- bench/loops/*.s
fi

# now: a timestamp in seconds with nanoseconds.
now() { date +%s.%N; }

# besttime CMD...: the best wall time of REPEAT runs, in seconds.
besttime() {
	if [ -n "$hyperfine" ]; then
		"$hyperfine" -N --runs "$REPEAT" --export-json "$tmp/h.json" -- "$(printf '%s ' "$@")" >/dev/null 2>&1
		sed -n 's/.*"min": *\([0-9.e+-]*\).*/\1/p' "$tmp/h.json" | head -1
		return
	fi
	best=
	i=0
	while [ "$i" -lt "$REPEAT" ]; do
		t0=$(now)
		"$@" >/dev/null 2>&1 || { echo "run.sh: $* failed" >&2; exit 1; }
		t1=$(now)
		best=$(echo "$t0 $t1 ${best:-}" | awk '{d = $2 - $1; if ($3 == "" || d < $3) print d; else print $3}')
		i=$((i + 1))
	done
	echo "$best"
}

# nativeinsns EXE: user-mode instructions counted by perf, or empty.
nativeinsns() {
	command -v perf >/dev/null || return 0
	perf stat -x, -e instructions:u "$1" 2>&1 >/dev/null | awk -F, '$3 ~ /^instructions/ && $1 ~ /^[0-9]+$/ {print $1}'
}

printf '%-8s %14s %14s %10s %10s %10s %9s %9s %9s\n' \
	program insns perf-insns native-s qemu-s klpsim-s mips k/native k/qemu
for src in "$@"; do
	name=$(basename "$src" .s)
	exe="$tmp/$name"
	as --64 -o "$exe.o" "$src"
	ld -static -o "$exe" "$exe.o"

	# Guest instruction count and interpreter MIPS from --stats.
	"$tmp/klpsim" elf --stats "$exe" >/dev/null 2>"$tmp/stats" || {
		echo "run.sh: klpsim elf $name failed:" >&2; cat "$tmp/stats" >&2; exit 1; }
	stats=$(tail -n 1 "$tmp/stats")
	insns=$(echo "$stats" | sed -n 's/^insns=\([0-9]*\) .*/\1/p')
	mips=$(echo "$stats" | sed -n 's/.* mips=\([0-9.]*\)$/\1/p')
	pinsns=$(nativeinsns "$exe")

	tn=$(besttime "$exe")
	tk=$(besttime "$tmp/klpsim" elf "$exe")
	tq=-
	if [ -n "$qemu" ]; then
		tq=$(besttime "$qemu" "$exe")
	fi
	echo "$name ${insns:-?} ${pinsns:--} $tn $tq $tk ${mips:-?}" | awk '{
		kq = ($5 == "-") ? "-" : sprintf("%.1f", $6 / $5)
		printf "%-8s %14s %14s %10.3f %10s %10.3f %9s %9.1f %9s\n", $1, $2, $3, $4, ($5 == "-") ? "-" : sprintf("%.3f", $5), $6, $7, $6 / $4, kq
	}'
done
if [ -z "$qemu" ]; then
	echo "(qemu-x86_64 not installed: apt-get install -y qemu-user)"
fi
