package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"median of even is the lower", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p100", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the minimum", hundred, 0.001, time.Millisecond},
	} {
		if got := Percentile(tc.samples, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(p%g) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	in := []time.Duration{5, 1, 4, 2, 3}
	s := Summarize(in)
	if s.N != 5 || s.P50 != 3 || s.P99 != 5 || s.Mean != 3 || s.Max != 5 {
		t.Errorf("Summarize = %+v", s)
	}
	if in[0] != 5 {
		t.Error("Summarize sorted its input in place")
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("Summarize(nil) is not zero")
	}
}

func TestRatios(t *testing.T) {
	if r := RateRatio(800, 1000); r != 0.8 {
		t.Errorf("RateRatio = %v", r)
	}
	if r := RateRatio(1, 0); r != 0 {
		t.Errorf("RateRatio with no ceiling = %v", r)
	}
	if r := LatencyRatio(4*time.Millisecond, time.Millisecond); r != 0.25 {
		t.Errorf("LatencyRatio = %v", r)
	}
	if r := Rate(500, 250*time.Millisecond); r != 2000 {
		t.Errorf("Rate = %v", r)
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{1234567.4, "events/s", "1,234,567"},
		{999, "events/s", "999"},
		{-12345, "events/s", "-12,345"},
		{0.1234, "ms", "0.123"},
		{12.34, "ms", "12.3"},
		{9.07, "µs", "9.07"},
	} {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

func TestParseOK(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		msg             string
		accepted, valid bool
		reason          string
	}{
		{`["OK","` + id + `",true,""]`, true, true, ""},
		{`["OK","` + id + `",false,"duplicate: already have this event"]`, false, true, "duplicate: already have this event"},
		{`["OK", "` + id + `", true, ""]`, true, true, ""},
		{`["NOTICE","invalid: no"]`, false, false, ""},
		{`["EVENT","s",{}]`, false, false, ""},
		{`not json`, false, false, ""},
	} {
		acc, reason, valid := parseOK([]byte(tc.msg))
		if acc != tc.accepted || reason != tc.reason || valid != tc.valid {
			t.Errorf("parseOK(%s) = %v, %q, %v; want %v, %q, %v", tc.msg, acc, reason, valid, tc.accepted, tc.reason, tc.valid)
		}
	}
}

func TestVerbIs(t *testing.T) {
	if !verbIs([]byte(`["EOSE","q"]`), "EOSE") || verbIs([]byte(`["EVENT","q",{}]`), "EOSE") ||
		verbIs([]byte(`["EOSEX","q"]`), "EOSE") || verbIs([]byte(`[`), "EOSE") {
		t.Error("verbIs misreads a message")
	}
}
