package hits

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFetchAndReset(t *testing.T) {
	var reply string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET " + PathHits:
			w.Write([]byte(reply))
		case "POST " + PathReset:
			w.Write([]byte("ok\n"))
		default:
			http.Error(w, "no such thing", http.StatusNotFound)
		}
	}))
	defer srv.Close()

	reply = `{"hits":[{"proto":"https","port":443,"headers":{"Authorization":["Bearer x"]},"body":"\ufffd","body_base64":"/w=="}],"icmp_recording":true}`
	hs, icmp, err := Fetch(t.Context(), srv.URL)
	if err != nil || !icmp || len(hs) != 1 {
		t.Fatalf("Fetch = %v, %v, %v; want one hit, icmp on", hs, icmp, err)
	}
	if got := hs[0].Headers.Get("Authorization"); got != "Bearer x" {
		t.Errorf("Authorization = %q, want Bearer x", got)
	}
	if got := hs[0].RawBody(); string(got) != "\xff" {
		t.Errorf("RawBody = %q, want \\xff", got)
	}

	reply = `{"hits":[],"icmp_recording":false,"dropped":3}`
	if _, _, err := Fetch(t.Context(), srv.URL); err == nil || !strings.Contains(err.Error(), "dropped 3 hits") {
		t.Errorf("Fetch(dropped) error = %v, want dropped", err)
	}
	reply = `{"hits":`
	if _, _, err := Fetch(t.Context(), srv.URL); err == nil {
		t.Error("Fetch(truncated JSON) succeeded")
	}
	if err := Reset(t.Context(), srv.URL); err != nil {
		t.Errorf("Reset: %v", err)
	}
	if err := Reset(t.Context(), srv.URL+"/nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Reset(wrong URL) error = %v, want 404", err)
	}
}

func TestHitString(t *testing.T) {
	for _, tc := range []struct {
		h    Hit
		want string
	}{
		{Hit{Proto: ProtoHTTPS, Port: 443, Remote: "10.0.0.2:5555", SNI: "a.test", Method: "GET", Host: "a.test", Path: "/x"}, `https:443 from 10.0.0.2:5555 sni=a.test GET a.test/x`},
		{Hit{Proto: ProtoDNS, Port: 53, Remote: "10.0.0.2:5555", DNSName: "a.test", DNSType: "A"}, `dns:53 from 10.0.0.2:5555 A "a.test"`},
		{Hit{Proto: ProtoTCP, Port: 7, Remote: "10.0.0.2:5555"}, `tcp:7 from 10.0.0.2:5555`},
	} {
		if got := tc.h.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestParseProbe(t *testing.T) {
	r, err := ParseProbe([]byte(`{"op":"tcp","target":"10.0.0.3:7","reached":true,"detail":"connected"}` + "\n"))
	if err != nil || r != (ProbeResult{Op: OpTCP, Target: "10.0.0.3:7", Reached: true, Detail: "connected"}) {
		t.Errorf("ParseProbe = %+v, %v", r, err)
	}
	if _, err := ParseProbe([]byte("probe: usage")); err == nil {
		t.Error("ParseProbe(garbage) succeeded")
	}
}
