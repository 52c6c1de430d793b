package dir

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/publisher/internal/pubtest"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
)

// pubTree reads every regular file under dir, by slash path.
func pubTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		body, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDirTargetPublish(t *testing.T) {
	ctx := context.Background()
	s := pubtest.Store(t)
	dir := t.TempDir()
	foreign := map[string]string{"robots.txt": "User-agent: *\n", ".well-known/acme-challenge/tok": "tok.thumb"}
	for p, body := range foreign {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	target := &Target{Dir: dir}

	out := pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files1, gen1 := pubtest.Files(t, s)
	rep, err := target.Publish(ctx, files1, gen1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pubtest.Sorted(rep.Uploaded), pubtest.Sorted(pubtest.Paths(files1))) || rep.Uploaded[len(rep.Uploaded)-1] != "index.html" {
		t.Fatalf("first publish uploaded %q, want every file with index.html last", rep.Uploaded)
	}
	tree := pubTree(t, dir)
	for _, f := range files1 {
		if tree[f.Path] != string(f.Body) {
			t.Errorf("%s: content differs from the build", f.Path)
		}
		st, err := os.Stat(filepath.Join(dir, f.Path))
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, err %v; want 0644 so a web server can read it", f.Path, st.Mode(), err)
		}
	}
	for p := range tree {
		if strings.Contains(p, ".nocbot-tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
	}
	var m manifestFile
	if err := json.Unmarshal([]byte(tree[dirManifest]), &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Generation != gen1 || !slices.Equal(m.Files, pubtest.Sorted(pubtest.Paths(files1))) {
		t.Fatalf("manifest = gen %d %q, want gen %d and exactly the rendered files", m.Generation, m.Files, gen1)
	}

	// Unchanged: nothing is written.
	before, _ := os.Stat(filepath.Join(dir, "index.html"))
	rep, err = target.Publish(ctx, files1, gen1)
	if err != nil || len(rep.Uploaded) != 0 || len(rep.Deleted) != 0 || len(rep.Skipped) != len(files1) {
		t.Fatalf("republish: %+v, %v; want everything skipped", rep, err)
	}

	// A changed incident writes exactly the changed files, each replaced by
	// a rename (a new inode), never rewritten in place.
	pubtest.Edit(t, s, func(b *status.Board) (status.Outcome, error) {
		return b.Resolve(pubtest.Now, pubtest.Actor, out.IDs[0], "fixed")
	})
	files2, gen2 := pubtest.Files(t, s)
	changed, _ := pubtest.Diff(files1, files2)
	rep, err = target.Publish(ctx, files2, gen2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pubtest.Sorted(rep.Uploaded), changed) {
		t.Fatalf("uploaded %q, want the changed files %q", rep.Uploaded, changed)
	}
	if slices.Contains(changed, "index.html") {
		if rep.Uploaded[len(rep.Uploaded)-1] != "index.html" {
			t.Errorf("index.html not written last: %q", rep.Uploaded)
		}
		after, _ := os.Stat(filepath.Join(dir, "index.html"))
		if os.SameFile(before, after) {
			t.Errorf("index.html was rewritten in place, not replaced atomically")
		}
	}

	// A file no longer rendered goes; files nocbot did not write stay.
	dropped := files2[0].Path
	rep, err = target.Publish(ctx, files2[1:], gen2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Deleted, []string{dropped}) {
		t.Fatalf("deleted %q, want [%s]", rep.Deleted, dropped)
	}
	tree = pubTree(t, dir)
	if _, ok := tree[dropped]; ok {
		t.Errorf("%s still there", dropped)
	}
	for p, body := range foreign {
		if tree[p] != body {
			t.Errorf("foreign file %s was touched", p)
		}
	}

	// An older build never overwrites a newer one.
	rep, err = target.Publish(ctx, files1, gen1)
	if !errors.Is(err, publisher.ErrStale) || rep.Changed() {
		t.Fatalf("stale publish: %+v, %v; want publisher.ErrStale and nothing written", rep, err)
	}
	if got := pubTree(t, dir); got["index.html"] != tree["index.html"] {
		t.Errorf("stale publish changed index.html")
	}
}

func TestDirTargetRefusesUnsafePaths(t *testing.T) {
	dir := t.TempDir()
	target := &Target{Dir: filepath.Join(dir, "site")}
	for _, p := range []string{"../escape.html", "/etc/x", ".well-known/acme-challenge/x", dirManifest} {
		_, err := target.Publish(context.Background(), []render.File{{Path: p, Body: []byte("x")}, {Path: "index.html"}}, 1)
		if !errors.Is(err, publisher.ErrUnsafePath) {
			t.Errorf("Publish(%q) = %v, want publisher.ErrUnsafePath", p, err)
		}
	}
	if tree := pubTree(t, dir); len(tree) != 0 {
		t.Errorf("a refused build wrote %v", tree)
	}
}

func TestDirTargetChallenge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	target := &Target{Dir: dir}
	const token, value = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD"
	if err := target.PutChallenge(ctx, token, value); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ".well-known", "acme-challenge", token)
	if body, err := os.ReadFile(p); err != nil || string(body) != value {
		t.Fatalf("challenge = %q, %v", body, err)
	}
	// Publishing never removes it: it is not nocbot's page.
	if _, err := target.Publish(ctx, []render.File{{Path: "index.html", Body: []byte("<p>ok</p>")}}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("publish removed the challenge: %v", err)
	}
	if err := target.DeleteChallenge(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("challenge still there: %v", err)
	}
	if err := target.DeleteChallenge(ctx, token); err != nil {
		t.Fatalf("deleting a missing challenge: %v", err)
	}
	if err := target.PutChallenge(ctx, "../index", value); !errors.Is(err, publisher.ErrBadChallenge) {
		t.Fatalf("bad token: %v, want publisher.ErrBadChallenge", err)
	}
}

// TestDirTargetTrustsWhatItWrote: between read-backs a publish compares
// digests with what this process wrote, without reading the tree; files
// the Renderer left without bytes are rendered again only where the
// folder lacks them; a file removed by hand comes back at the next
// read-back (a restart or the hourly one).
func TestDirTargetTrustsWhatItWrote(t *testing.T) {
	ctx := context.Background()
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	b, gen := s.Snapshot()
	site := render.Site{Title: "Status", URL: "https://status.example.org/"}
	first, err := render.Render(b, pubtest.Now, site)
	if err != nil {
		t.Fatal(err)
	}
	lazy, err := render.NewRenderer(site).Render(b, pubtest.Now)
	if err != nil {
		t.Fatal(err)
	}
	var permalink string
	for _, f := range lazy {
		if f.Body == nil {
			permalink = f.Path
		}
	}
	if permalink == "" {
		t.Fatal("the Renderer left no file without bytes")
	}

	// An empty folder gets every byte, the left-out ones rendered again.
	dir := t.TempDir()
	target := &Target{Dir: dir}
	if _, err := target.Publish(ctx, lazy, gen); err != nil {
		t.Fatal(err)
	}
	tree := pubTree(t, dir)
	for _, f := range first {
		if tree[f.Path] != string(f.Body) {
			t.Errorf("%s: content differs from Render's", f.Path)
		}
	}

	// Removed by hand: this process trusts what it wrote until it reads
	// the folder back.
	if err := os.Remove(filepath.Join(dir, permalink)); err != nil {
		t.Fatal(err)
	}
	rep, err := target.Publish(ctx, lazy, gen)
	if err != nil || len(rep.Uploaded) != 0 {
		t.Fatalf("second publish of the same build: uploaded %v, %v", rep.Uploaded, err)
	}
	for name, tg := range map[string]*Target{
		"a restart":     {Dir: dir},
		"the read-back": func() *Target { target.verified = target.verified.Add(-2 * reverifyAfter); return target }(),
	} {
		if err := os.Remove(filepath.Join(dir, permalink)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		rep, err := tg.Publish(ctx, lazy, gen)
		if err != nil || !slices.Equal(rep.Uploaded, []string{permalink}) {
			t.Errorf("%s: uploaded %v (%v), want only %s", name, rep.Uploaded, err, permalink)
		}
	}
}

// TestDirTargetDamagedManifest: a manifest that does not parse stops the
// publish before anything is written, with what to do about it.
func TestDirTargetDamagedManifest(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, dirManifest), []byte(`{"generation": 3, "files": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	target := &Target{Dir: dir}
	_, err := target.Publish(context.Background(), []render.File{{Path: "index.html", Body: []byte("<p>ok</p>"), ContentType: "text/html", CacheControl: "no-cache"}}, 4)
	if err == nil || !strings.Contains(err.Error(), dirManifest) || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("publish over a damaged manifest: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("index.html written over a damaged manifest (%v)", err)
	}
}
