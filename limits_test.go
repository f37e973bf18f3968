package main

import (
	"io"
	"strings"
	"testing"
)

func TestBadLimitsFailFast(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"NaN ingest rate", []string{"-ingest-rate", "NaN"}, nil, "-ingest-rate"},
		{"infinite ingest requests", nil, map[string]string{"FLEETPULSE_INGEST_REQUESTS": "+Inf"}, "-ingest-requests"},
		{"negative ingest rate", []string{"-ingest-rate", "-5"}, nil, "-ingest-rate"},
		{"NaN simulator rate", []string{"-rate", "NaN"}, nil, "-rate"},
		{"no subscribers", []string{"-max-subscribers", "0"}, nil, "-max-subscribers"},
		{"zero read timeout", []string{"-read-timeout", "0s"}, nil, "-read-timeout"},
		{"header timeout beyond read timeout", []string{"-read-header-timeout", "2m", "-read-timeout", "1m"}, nil, "-read-header-timeout"},
		{"header bytes beyond 1 MiB", []string{"-max-header-bytes", "2MiB"}, nil, "-max-header-bytes"},
		{"unknown log format", nil, map[string]string{"FLEETPULSE_LOG_FORMAT": "xml"}, "-log-format"},
		{"max vehicles beyond int32", []string{"-max-vehicles", "3000000000"}, nil, "max vehicles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseConfig(%v, %v) = %v, want an error mentioning %q", tc.args, tc.env, err, tc.want)
			}
		})
	}
	c, err := parseConfig([]string{"-ingest-origins", " gw.example.com, *.fleet.example ,", "-ingest-rate", "0"}, func(string) string { return "" }, io.Discard)
	if err != nil || strings.Join(c.limits.ingestOrigins, "|") != "gw.example.com|*.fleet.example" || c.limits.ingestRate != 0 {
		t.Fatalf("valid limits: %+v, %v", c.limits, err)
	}
}
