package alerts

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fedora-infra/nocbot/web"
)

// TestZabbixMediaTypeScript runs docs/zabbix-nocbot-mediatype.js under
// Node the way Zabbix runs a webhook script, with the parameters of the
// fixture, and sends what it would POST (body and headers) to the real
// receiver: it makes a proposal. A non-200 answer makes the script throw.
func TestZabbixMediaTypeScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if testing.Short() {
			t.Skip("node not installed")
		}
		t.Fatal("node (Debian nodejs) not installed: run scripts/testservers/install.sh")
	}
	var fx struct {
		Params map[string]string `json:"suggested_nocbot_media_type_params_example"`
	}
	if err := json.Unmarshal(fixture(t, "zabbix-webhook-params.json"), &fx); err != nil {
		t.Fatal(err)
	}
	params := fx.Params
	params["token"] = testToken
	h := newHarness(t, "", nil, web.Limits{})
	params["url"] = h.url + "/hooks/zabbix"
	pf := filepath.Join(t.TempDir(), "params.json")
	raw, _ := json.Marshal(params)
	os.WriteFile(pf, raw, 0o644)

	run := func(status string) (out struct {
		Result, Error, URL, Body string
		Headers                  []string
	}) {
		b, err := exec.Command(node, "testdata/run-mediatype.js", "../docs/zabbix-nocbot-mediatype.js", pf, status).Output()
		if err != nil {
			t.Fatalf("node: %v", err)
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return out
	}
	out := run("200")
	if out.Result != "OK" || out.Error != "" || out.URL != params["url"] {
		t.Fatalf("script: %+v", out)
	}
	if strings.Contains(out.Body, testToken) {
		t.Fatal("the token went into the body")
	}
	auth := ""
	for _, hd := range out.Headers {
		if v, ok := strings.CutPrefix(hd, "Authorization: "); ok {
			auth = v
		}
	}
	code, text := h.post("/hooks/zabbix", auth, []byte(out.Body))
	if code != 200 || text != "ok: created 1" {
		t.Fatalf("receiver: %d %q", code, text)
	}
	if p := h.proposal("1"); p.Services[0] != "koji" || p.Group != "zabbix:1234567" {
		t.Fatalf("proposal %+v", p)
	}
	if bad := run("401"); !strings.Contains(bad.Error, "nocbot answered HTTP 401") {
		t.Fatalf("a refusal must throw: %+v", bad)
	}
}
