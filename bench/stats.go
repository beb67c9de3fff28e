package bench

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// Latency summarises a set of latency samples.
type Latency struct {
	N    int
	P50  time.Duration
	P99  time.Duration
	Mean time.Duration
	Max  time.Duration
}

// Summarize sorts a copy of samples and returns their percentiles. An empty
// set gives the zero Latency.
func Summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Latency{
		N:    len(s),
		P50:  Percentile(s, 50),
		P99:  Percentile(s, 99),
		Mean: sum / time.Duration(len(s)),
		Max:  s[len(s)-1],
	}
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted samples by
// the nearest-rank method: the smallest sample that at least p percent of
// the samples do not exceed. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Rate is n operations over d, per second; 0 when d is not positive.
func Rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// RateRatio is the fraction of a throughput ceiling reached: value/ceiling.
func RateRatio(value, ceiling float64) float64 {
	if ceiling <= 0 {
		return 0
	}
	return value / ceiling
}

// LatencyRatio is the fraction of a latency ceiling reached: ceiling/value,
// so that, as for throughput, 1 means "as fast as the ceiling".
func LatencyRatio(value, ceiling time.Duration) float64 {
	if value <= 0 {
		return 0
	}
	return float64(ceiling) / float64(value)
}

// Millis expresses d in milliseconds.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// formatValue renders a figure for the table: rates as whole numbers with
// thousands separators, milliseconds with three significant decimals.
func formatValue(v float64, unit string) string {
	switch {
	case unit == "ms" && v < 10:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case unit == "ms":
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1000 || v == math.Trunc(v):
		return groupThousands(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// groupThousands writes n with commas between groups of three digits.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
