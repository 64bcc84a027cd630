package dnsgate

import (
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestHostname(t *testing.T) {
	long := strings.Repeat(label63+".", 4)[:253]
	tests := []struct {
		in    string
		want  string
		valid bool
	}{
		{"example.com.", "example.com", true},
		{"example.com", "example.com", true},
		{"EXAMPLE.Com.", "example.com", true},
		{"a-b.c0.example.", "a-b.c0.example", true},
		{"localhost", "localhost", true},
		{label63 + ".com", label63 + ".com", true},
		{long, long, true},
		{long + "a", long + "a", false},
		{"a" + label63 + ".com", "a" + label63 + ".com", false},
		{"example.com..", "example.com.", false},
		{".", "", false},
		{"", "", false},
		{"a..b", "a..b", false},
		{".a", ".a", false},
		{"ex_ample.com", "ex_ample.com", false},
		{"*.example.com", "*.example.com", false},
		{"a b.com", "a b.com", false},
		{"BÜCHER.com", "bÜcher.com", false},
		{"x\x00.com", "x\x00.com", false},
		{"x\\.com", "x\\.com", false},
	}
	for _, tt := range tests {
		got, valid := hostname(tt.in)
		if got != tt.want || valid != tt.valid {
			t.Errorf("hostname(%q) = %q, %v, want %q, %v", tt.in, got, valid, tt.want, tt.valid)
		}
	}
}

func TestMnemonics(t *testing.T) {
	types := map[dnsmessage.Type]string{
		dnsmessage.TypeA:     "A",
		dnsmessage.TypeAAAA:  "AAAA",
		dnsmessage.TypeTXT:   "TXT",
		dnsmessage.TypeHTTPS: "HTTPS",
		dnsmessage.TypeALL:   "ANY",
		dnsmessage.Type(99):  "TYPE99",
	}
	for typ, want := range types {
		if got := typeName(typ); got != want {
			t.Errorf("typeName(%d) = %q, want %q", typ, got, want)
		}
	}
	rcodes := map[dnsmessage.RCode]string{
		dnsmessage.RCodeSuccess:        "NOERROR",
		dnsmessage.RCodeFormatError:    "FORMERR",
		dnsmessage.RCodeServerFailure:  "SERVFAIL",
		dnsmessage.RCodeNameError:      "NXDOMAIN",
		dnsmessage.RCodeNotImplemented: "NOTIMP",
		dnsmessage.RCodeRefused:        "REFUSED",
		dnsmessage.RCode(9):            "RCODE9",
	}
	for rc, want := range rcodes {
		if got := rcodeName(rc); got != want {
			t.Errorf("rcodeName(%d) = %q, want %q", rc, got, want)
		}
	}
}
