package ingest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"fleetpulse/shared/telemetry"
)

// TestSinkAnswersAfterAck: with a Sink, a request is answered only once the
// Sink has returned, with the valid events of the body; a failing Sink
// gets 503 with Retry-After and counts nothing.
func TestSinkAnswersAfterAck(t *testing.T) {
	t.Parallel()
	called := make(chan telemetry.Batch, 1)
	release := make(chan error)
	in, srv, out := newIngest(t, 1, Options{Sink: func(ctx context.Context, b telemetry.Batch) error {
		called <- b
		select {
		case err := <-release:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	body := strings.Join([]string{line("TRUCK-1", now), `{"vehicle_id":"TRUCK-2"}`, line("TRUCK-3", now)}, "\n")

	answered := make(chan reply, 1)
	go func() { answered <- post(t, srv.URL, "Bearer "+token, body) }()
	b := <-called
	select {
	case r := <-answered:
		t.Fatalf("answered %d before the sink acknowledged", r.status)
	default:
	}
	if len(b.Events) != 2 || b.Events[0].VehicleID != "TRUCK-1" || b.Events[1].VehicleID != "TRUCK-3" {
		t.Fatalf("sink got %+v, want the two valid events", b.Events)
	}
	release <- nil
	r := <-answered
	if r.status != http.StatusOK || r.answer.Accepted != 2 || r.answer.Rejected != 1 {
		t.Fatalf("answer %d %s", r.status, r.raw)
	}
	if in.Accepted() != 2 {
		t.Fatalf("accepted %d, want 2", in.Accepted())
	}
	if len(out) != 0 {
		t.Fatal("a batch went to the stage's queue as well as to the sink")
	}

	go func() { answered <- post(t, srv.URL, "Bearer "+token, line("TRUCK-4", now)) }()
	<-called
	release <- errors.New("broker down")
	r = <-answered
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.answer.Error == "" {
		t.Fatalf("answer %d %v %s, want 503 with Retry-After and a reason", r.status, r.header, r.raw)
	}
	if strings.Contains(r.raw, "broker down") {
		t.Fatal("internal error text leaked to the client")
	}
	if in.Accepted() != 2 {
		t.Fatalf("accepted %d after a failed sink, want still 2", in.Accepted())
	}
}
