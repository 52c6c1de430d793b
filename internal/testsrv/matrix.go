package testsrv

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	matrixServerName   = "localhost"
	matrixSharedSecret = "complement" // registration_shared_secret of a -ci config
	matrixStartTimeout = 60 * time.Second
)

// MatrixServer is a private Dendrite homeserver (SQLite, no federation,
// public registration disabled).
type MatrixServer struct {
	// URL is the client-server API base, http://127.0.0.1:port.
	URL string
	// ServerName is the homeserver's name, the part after ':' in user IDs.
	ServerName string

	server
	dendrite  *process
	httpsAddr string
}

// Dendrite starts a private Matrix homeserver for the test and returns once
// it answers client requests.
func Dendrite(t testing.TB) *MatrixServer {
	t.Helper()
	return DendriteNamed(t, matrixServerName)
}

// DendriteNamed is Dendrite with another server name, so a test can create the room aliases
// and user ids a real configuration names (federation stays off: nothing leaves the machine).
func DendriteNamed(t testing.TB, serverName string) *MatrixServer {
	t.Helper()
	bin := cachedTool(t, "dendrite", dendriteVersion, "dendrite")
	genConfig := cachedTool(t, "dendrite", dendriteVersion, "generate-config")
	genKeys := cachedTool(t, "dendrite", dendriteVersion, "generate-keys")

	s := &MatrixServer{ServerName: serverName}
	s.server = server{what: "Matrix server", in: newInstance(t, "matrix"), up: s.start}
	s.writeConfig(t, genConfig, genKeys)
	s.dendrite = s.in.process("dendrite")
	s.launch(t, func() {
		ports := freePorts(t, 2)
		s.URL = "http://" + loopback(ports[0])
		s.httpsAddr = loopback(ports[1])
		// Without both bind addresses Dendrite listens on all interfaces.
		s.dendrite.argv = []string{bin, "--config", s.in.path("dendrite.yaml"),
			"--http-bind-address", strings.TrimPrefix(s.URL, "http://"),
			"--https-bind-address", s.httpsAddr}
	})
	return s
}

func (s *MatrixServer) start() error {
	if err := s.dendrite.start(); err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Second}
	return waitUntil("dendrite answering", matrixStartTimeout, func() bool {
		resp, err := client.Get(s.URL + "/_matrix/client/versions")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, s.dendrite)
}

// dendriteConfigEdits turn a "generate-config -ci" file into a quiet,
// offline server: no federation or outbound presence, no identity servers,
// warnings only, a small cache, and users only through the admin API.
var dendriteConfigEdits = []confEdit{
	{regexp.MustCompile(`(?m)^  disable_federation: false$`), "  disable_federation: true"},
	{regexp.MustCompile(`(?m)^    enable_outbound: true$`), "    enable_outbound: false"},
	{regexp.MustCompile(`(?m)^  trusted_third_party_id_servers:\n(?:  - .*\n)*`), "  trusted_third_party_id_servers: []\n"},
	{regexp.MustCompile(`(?m)^  level: trace$`), "  level: warn"},
	{regexp.MustCompile(`(?m)^    max_size_estimated: \d+$`), "    max_size_estimated: 67108864"},
	{regexp.MustCompile(`(?m)^  registration_disabled: false$`), "  registration_disabled: true"},
}

func (s *MatrixServer) writeConfig(t testing.TB, genConfig, genKeys string) {
	t.Helper()
	out, err := exec.Command(genConfig, "-ci", "-dir", s.in.dir, "-server", s.ServerName).Output()
	if err != nil {
		t.Fatalf("testsrv: dendrite generate-config: %v", err)
	}
	conf, err := applyEdits(string(out), dendriteConfigEdits)
	if err != nil {
		t.Fatalf("testsrv: dendrite generate-config output has changed: %v", err)
	}
	writeFile(t, s.in.path("dendrite.yaml"), conf)
	cmd := exec.Command(genKeys, "--private-key", "matrix_key.pem")
	cmd.Dir = s.in.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testsrv: dendrite generate-keys: %v\n%s", err, out)
	}
}

// CreateUser registers a user through the shared-secret admin API (which
// works while public registration is disabled) and returns the user ID and
// an access token for it.
func (s *MatrixServer) CreateUser(t testing.TB, localpart, password string) (userID, accessToken string) {
	t.Helper()
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := s.call(http.MethodGet, "/_synapse/admin/v1/register", "", nil, &nonce); err != nil {
		t.Fatalf("testsrv: creating Matrix user %s: %v", localpart, err)
	}
	mac := hmac.New(sha1.New, []byte(matrixSharedSecret))
	mac.Write([]byte(nonce.Nonce + "\x00" + localpart + "\x00" + password + "\x00notadmin"))
	req := map[string]any{
		"nonce":    nonce.Nonce,
		"username": localpart,
		"password": password,
		"admin":    false,
		"mac":      hex.EncodeToString(mac.Sum(nil)),
	}
	var reg struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	if err := s.call(http.MethodPost, "/_synapse/admin/v1/register", "", req, &reg); err != nil {
		t.Fatalf("testsrv: creating Matrix user %s: %v", localpart, err)
	}
	if reg.AccessToken != "" {
		return reg.UserID, reg.AccessToken
	}
	login := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": localpart},
		"password":   password,
	}
	if err := s.call(http.MethodPost, "/_matrix/client/v3/login", "", login, &reg); err != nil {
		t.Fatalf("testsrv: logging in Matrix user %s: %v", localpart, err)
	}
	return reg.UserID, reg.AccessToken
}

// call sends a JSON request to the homeserver, as the user with token if
// that is not empty, and decodes a 200 answer into out.
func (s *MatrixServer) call(method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	return json.Unmarshal(data, out)
}
