package alerts

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzWebhookBodies feeds any body to the three receivers' decoders: none
// panics, the same body always decodes the same way, a batch that is not
// ignored names its group and every alert's key, and what Plain makes of
// any label is one line without control characters.
func FuzzWebhookBodies(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("fixtures: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for source := range 3 {
			f.Add(uint8(source), b)
		}
	}
	f.Add(uint8(1), []byte(`{"host": "a"b", "output": "c\d", "type": "PROBLEM"}`))
	decoders := []func([]byte) (Batch, error){
		DecodeAlertmanager,
		func(b []byte) (Batch, error) { return DecodeNagios(b, "nagios01") },
		DecodeZabbix,
	}
	f.Fuzz(func(t *testing.T, source uint8, body []byte) {
		decode := decoders[int(source)%len(decoders)]
		b, err := decode(body)
		again, err2 := decode(body)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(b, again) {
			t.Fatalf("two decodings of one body differ: %+v (%v) / %+v (%v)", b, err, again, err2)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if b.Ignored != "" {
			return
		}
		if b.Source == "" || b.Group == "" {
			t.Fatalf("a batch without source or group: %+v", b)
		}
		for _, a := range b.Alerts {
			if a.Key == "" {
				t.Fatalf("an alert without a key: %+v", a)
			}
			for _, m := range []map[string]string{a.Labels, a.Annotations} {
				for k, v := range m {
					for _, s := range []string{Plain(k, 200), Plain(v, 200)} {
						if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) || utf8.RuneCountInString(s) > 200 {
							t.Fatalf("Plain gave %q", s)
						}
					}
				}
			}
		}
	})
}
