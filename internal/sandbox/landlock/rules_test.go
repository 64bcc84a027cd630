package landlock

import (
	"strings"
	"testing"
)

func TestRulesValidate(t *testing.T) {
	tests := []struct {
		name  string
		rules Rules
		want  []string // substrings of the error; none means valid
	}{
		{name: "empty", rules: Rules{}},
		{name: "absolute", rules: Rules{Writable: []string{"/work", "/nonexistent"}, WritableFiles: []string{"/dev/null"}}},
		{name: "relative_writable", rules: Rules{Writable: []string{"/work", "work"}}, want: []string{`writable folder "work"`}},
		{name: "empty_file", rules: Rules{WritableFiles: []string{""}}, want: []string{`writable file ""`}},
		{name: "reports_all", rules: Rules{Writable: []string{"a"}, WritableFiles: []string{"./b"}},
			want: []string{`writable folder "a"`, `writable file "./b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("validate(%+v) = %v, want nil", tt.rules, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate(%+v) = nil, want an error naming %q", tt.rules, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("validate(%+v) = %v, want it to name %s", tt.rules, err, w)
				}
			}
		})
	}
}
