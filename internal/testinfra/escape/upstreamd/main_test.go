package main

import (
	"io"
	"slices"
	"testing"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPS != ":443" || cfg.HTTP != ":80" || cfg.DNS != ":53" || cfg.Control != ":8081" || !cfg.ICMP ||
		!slices.Equal(cfg.TCP, []string{":7", ":22"}) || !slices.Equal(cfg.UDP, []string{":7"}) || cfg.Cert != nil {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = parseFlags([]string{"--https=", "--tcp=", "--udp", "127.0.0.1:0, 127.0.0.1:0", "--dns-answer", "10.0.0.9", "--icmp=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPS != "" || cfg.TCP != nil || len(cfg.UDP) != 2 || cfg.DNSAnswer.String() != "10.0.0.9" || cfg.ICMP {
		t.Errorf("parsed = %+v", cfg)
	}
	for _, args := range [][]string{
		{"--dns-answer", "fd00::1"},
		{"--cert", "/nonexistent.pem", "--key", "/nonexistent.pem"},
		{"extra"},
		{"--bogus"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
	// The default HTTPS listener needs a certificate.
	if _, err := start(config{HTTPS: "127.0.0.1:0"}); err == nil {
		t.Error("start without a certificate succeeded")
	}
}
