# Sourced by the benchmark scripts (run.sh, mem-scale.sh).
#
# median VALUES...: their median (the mean of the middle two for an even
# count), printed with $digits decimals (default 0).
median() {
	printf '%s\n' "$@" | sort -g | awk -v d="${digits:-0}" '{ v[NR] = $1 }
	    END { m = int((NR + 1) / 2)
		printf "%." d "f", NR % 2 ? v[m] : (v[m] + v[m + 1]) / 2 }'
}
