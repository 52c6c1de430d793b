package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The operator docs (docs/*.md) are tested so they cannot rot. Their code blocks are marked:
//
//   - ```console: "$ " lines are shell commands, run in order in one bash per document, in a
//     fresh directory holding a copy of deploy/ with the built nocbot on PATH; the lines after a
//     command are output that must appear in that order ("..." inside a line matches anything,
//     "[exit N]" is the expected exit status, else it must be 0).
//   - ```chat: "> " lines are chat commands, replayed through the console transport of a nocbot
//     on the embedded default (one state per document); the lines after one are its reply.
//   - ```not-run: commands that cannot run here (kubectl, systemctl, …): each must be one of
//     notRunPrograms, parse as shell, and every repository path it names must exist.
//
// A "$ " line in any other fence fails the test, so nothing shown as a command escapes it.

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated part of docs/commands.md")

// docBlock is one marked fence of a document.
type docBlock struct {
	kind  string // console, chat, not-run
	line  int    // of the opening fence
	steps []docStep
}

// docStep is one command and the output shown under it.
type docStep struct {
	line int
	cmd  string
	want []string
}

var fenceRE = regexp.MustCompile("^```([A-Za-z-]*)")

// parseDoc returns the marked blocks of a document, and fails on a shell prompt in an unmarked
// fence.
func parseDoc(t *testing.T, name string, text string) []docBlock {
	t.Helper()
	var blocks []docBlock
	var cur *docBlock
	inFence := false
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		ln := lines[i]
		if m := fenceRE.FindStringSubmatch(strings.TrimLeft(ln, " ")); m != nil {
			if inFence {
				inFence = false
				if cur != nil {
					blocks = append(blocks, *cur)
					cur = nil
				}
				continue
			}
			inFence = true
			switch m[1] {
			case "console", "chat", "not-run":
				cur = &docBlock{kind: m[1], line: i + 1}
			}
			continue
		}
		if !inFence {
			continue
		}
		body := strings.TrimLeft(ln, " ")
		if cur == nil {
			if strings.HasPrefix(body, "$ ") {
				t.Errorf("%s:%d: a shell command in a fence that is not console or not-run", name, i+1)
			}
			continue
		}
		prompt := "$ "
		if cur.kind == "chat" {
			prompt = "> "
		}
		if strings.HasPrefix(body, prompt) {
			cmd := strings.TrimPrefix(body, prompt)
			start := i + 1
			for strings.HasSuffix(cmd, "\\") && i+1 < len(lines) {
				i++
				cmd = strings.TrimSuffix(cmd, "\\") + "\n" + strings.TrimLeft(lines[i], " ")
			}
			cur.steps = append(cur.steps, docStep{line: start, cmd: cmd})
			continue
		}
		if len(cur.steps) == 0 {
			if strings.TrimSpace(body) != "" {
				t.Errorf("%s:%d: output before the first command", name, i+1)
			}
			continue
		}
		if s := &cur.steps[len(cur.steps)-1]; strings.TrimSpace(body) != "" {
			s.want = append(s.want, strings.TrimRight(body, " "))
		}
	}
	if inFence {
		t.Errorf("%s: a fence is not closed", name)
	}
	return blocks
}

// matchLine: "..." matches anything, the rest literally, the whole line.
func matchLine(pattern, line string) bool {
	parts := strings.Split(pattern, "...")
	if len(parts) == 1 {
		return pattern == line
	}
	if !strings.HasPrefix(line, parts[0]) {
		return false
	}
	line = line[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		j := strings.Index(line, p)
		if j < 0 {
			return false
		}
		line = line[j+len(p):]
	}
	return strings.HasSuffix(line, parts[len(parts)-1])
}

// checkOutput reports the first wanted line not found, in order, in got.
func checkOutput(want []string, got string) error {
	lines := strings.Split(strings.ReplaceAll(got, "\r", ""), "\n")
	k := 0
	for _, w := range want {
		if w == "..." || strings.HasPrefix(w, "[exit ") {
			continue
		}
		for k < len(lines) && !matchLine(w, strings.TrimRight(lines[k], " ")) {
			k++
		}
		if k == len(lines) {
			return fmt.Errorf("missing (in this order) %q", w)
		}
		k++
	}
	return nil
}

func wantExit(want []string) int {
	for _, w := range want {
		if strings.HasPrefix(w, "[exit ") {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(w, "[exit "), "]"))
			return n
		}
	}
	return 0
}

func readDocs(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	docs := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(f)] = string(b)
	}
	return docs
}

// runConsole runs a document's console blocks in one bash, each command followed by a marker
// with its exit status, and checks each command's output and status.
//
// With chat set, the document's chat blocks are replayed by chat at their place in the session
// (the shell waits for it), so they reach what the commands before them started.
func runConsole(t *testing.T, name string, blocks []docBlock, bin string, env []string, setup func(work string), chat func(steps []docStep)) {
	t.Helper()
	var steps []docStep
	var chats [][]docStep
	var script strings.Builder
	script.WriteString("set +e\n")
	for _, b := range blocks {
		if b.kind == "chat" && chat != nil {
			fmt.Fprintf(&script, "printf '\\n@@@chat %d\\n'\nread -r _ <&3\n", len(chats))
			chats = append(chats, b.steps)
			continue
		}
		if b.kind != "console" {
			continue
		}
		for _, s := range b.steps {
			fmt.Fprintf(&script, "printf '\\n@@@step %d\\n'\n%s\nprintf '\\n@@@rc %d %%d\\n' $?\n", len(steps), s.cmd, len(steps))
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return
	}
	work := t.TempDir()
	copyTree(t, "../../deploy", filepath.Join(work, "deploy"))
	// What the documents start from besides deploy/: the example config, and the old status
	// page's history (the file the old site's repository has).
	for from, to := range map[string]string{
		"../../config.example.toml":                          "config.example.toml",
		"../../statusfpo/testdata/outages.main-content.json": "outages.main-content.json",
	} {
		copyTree(t, from, filepath.Join(work, to))
	}
	if err := os.MkdirAll(filepath.Join(work, ".home"), 0o700); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(work)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(env, "HOME="+filepath.Join(work, ".home"), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "LC_ALL=C.UTF-8", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	goR, goW, err := os.Pipe() // the shell reads "go on" from its fd 3 after a chat block
	if err != nil {
		t.Fatal(err)
	}
	defer goW.Close()
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = outW, outW, []*os.File{goR}
	var out syncBuffer
	read := make(chan struct{})
	err = cmd.Start()
	outW.Close()
	goR.Close()
	if err == nil {
		// Whatever the document left running in the background ends with the test.
		defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		go func() {
			defer close(read)
			sc := bufio.NewScanner(outR)
			for sc.Scan() {
				ln := sc.Text()
				out.Write([]byte(ln + "\n"))
				var i int
				if n, _ := fmt.Sscanf(ln, "@@@chat %d", &i); n == 1 && strings.HasPrefix(ln, "@@@chat ") && i < len(chats) {
					chat(chats[i])
					goW.Write([]byte("\n"))
				}
			}
		}()
		err = cmd.Wait()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-read:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: something the document started still holds its output", name)
		}
	}
	outR.Close()
	if err != nil {
		t.Errorf("%s: bash: %v", name, err)
	}
	got := map[int]string{}
	rcs := map[int]int{}
	cur := -1
	var buf strings.Builder
	for _, ln := range strings.Split(out.String(), "\n") {
		var i, rc int
		if n, _ := fmt.Sscanf(ln, "@@@step %d", &i); n == 1 && strings.HasPrefix(ln, "@@@step ") {
			cur = i
			buf.Reset()
			continue
		}
		if n, _ := fmt.Sscanf(ln, "@@@rc %d %d", &i, &rc); n == 2 && strings.HasPrefix(ln, "@@@rc ") {
			got[i], rcs[i] = buf.String(), rc
			cur = -1
			continue
		}
		if cur >= 0 {
			buf.WriteString(ln + "\n")
		}
	}
	for i, s := range steps {
		o, ran := got[i]
		switch {
		case !ran:
			t.Errorf("%s:%d: $ %s: did not finish\n%s", name, s.line, s.cmd, tail(out.String(), 3000))
			return
		case rcs[i] != wantExit(s.want):
			t.Errorf("%s:%d: $ %s: exit status %d, want %d\n%s", name, s.line, s.cmd, rcs[i], wantExit(s.want), o)
		default:
			if err := checkOutput(s.want, o); err != nil {
				t.Errorf("%s:%d: $ %s: %v; got:\n%s", name, s.line, s.cmd, err, o)
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// helpSentinel follows every replayed chat command: its reply marks where the command's ends.
const (
	helpSentinel      = "!help help"
	helpSentinelReply = "!help [command] — list commands, or explain one"
)

// runChat replays a document's chat commands through the console of one nocbot on the
// embedded default and checks each reply.
// It returns the instance's directory (state and page) once nocbot has stopped, or "" when the
// document has no chat.
func runChat(t *testing.T, name string, blocks []docBlock, bin string) string {
	t.Helper()
	var steps []docStep
	for _, b := range blocks {
		if b.kind == "chat" {
			steps = append(steps, b.steps...)
		}
	}
	if len(steps) == 0 {
		return ""
	}
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "NOCBOT_WEB_LISTEN=", "TZ=UTC")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	defer stop()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for _, s := range steps {
		fmt.Fprintf(stdin, "%s\n%s\n", s.cmd, helpSentinel)
		var reply strings.Builder
		timeout := time.After(30 * time.Second)
	read:
		for {
			select {
			case ln, ok := <-lines:
				if !ok {
					t.Fatalf("%s:%d: nocbot exited: %s", name, s.line, stderr.String())
				}
				if ln == helpSentinelReply {
					break read
				}
				reply.WriteString(ln + "\n")
			case <-timeout:
				t.Fatalf("%s:%d: > %s: no reply", name, s.line, s.cmd)
			}
		}
		if len(s.want) == 0 {
			t.Errorf("%s:%d: > %s: the doc shows no reply", name, s.line, s.cmd)
		}
		if err := checkOutput(s.want, reply.String()); err != nil {
			t.Errorf("%s:%d: > %s: %v; got:\n%s", name, s.line, s.cmd, err, reply.String())
		}
	}
	stop()
	return cmd.Dir
}

// notRunPrograms are the only programs a not-run block may call: what needs a cluster, a
// service manager, an identity server or production credentials.
var notRunPrograms = []string{"kubectl", "oc", "systemctl", "journalctl", "ipa", "ipa-getkeytab", "podman", "go", "certbot", "aws", "install", "sudo"}

var repoPathRE = regexp.MustCompile(`(?:^|[\s=])((?:deploy|docs|scripts|contrib)/[A-Za-z0-9._/-]+)`)

// checkNotRun returns the problems of a document's not-run commands and how many there are.
func checkNotRun(name string, blocks []docBlock) (problems []string, n int) {
	for _, b := range blocks {
		if b.kind != "not-run" {
			continue
		}
		for _, s := range b.steps {
			n++
			prog := strings.Fields(s.cmd)[0]
			if !slices.Contains(notRunPrograms, prog) {
				problems = append(problems, fmt.Sprintf("%s:%d: %q in a not-run block: run it in a console block instead (not-run is for %v)", name, s.line, prog, notRunPrograms))
			}
			if out, err := exec.Command("bash", "-n", "-c", s.cmd).CombinedOutput(); err != nil {
				problems = append(problems, fmt.Sprintf("%s:%d: $ %s: does not parse: %s", name, s.line, s.cmd, out))
			}
			for _, m := range repoPathRE.FindAllStringSubmatch(s.cmd, -1) {
				p := strings.TrimRight(m[1], "/")
				if _, err := os.Stat(filepath.Join("../..", p)); err != nil {
					problems = append(problems, fmt.Sprintf("%s:%d: $ %s: %s does not exist in the repository", name, s.line, s.cmd, p))
				}
			}
		}
	}
	return problems, n
}

// maxNotRun keeps the commands nobody runs few.
const maxNotRun = 12

// TestDocs runs every command the operator docs show.
func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the docs' commands against real servers (-short)")
	}
	bin := buildBinary(t)
	docs := readDocs(t)
	notRun := 0
	for _, name := range sortedKeys(docs) {
		blocks := parseDoc(t, name, docs[name])
		problems, n := checkNotRun(name, blocks)
		for _, p := range problems {
			t.Error(p)
		}
		notRun += n
		t.Run(name, func(t *testing.T) {
			env, setup, chat := os.Environ(), func(string) {}, (func([]docStep))(nil)
			if name == "SOP.md" {
				// The SOP's walk-through brings up deploy/config/staging.toml for real, and its
				// chat goes to that instance over IRC.
				stg := newDocsStaging(t)
				env, setup = stg.env, func(work string) { stg.writeSecrets(t, work) }
				chat = func(steps []docStep) { stg.chat(t, name, steps) }
			}
			runConsole(t, name, blocks, bin, env, setup, chat)
			dir := ""
			if chat == nil {
				dir = runChat(t, name, blocks, bin)
			}
			if name == "page-files.md" {
				// The files its chat published are the ones it lists.
				checkPageFiles(t, docs[name], filepath.Join(dir, "public"))
			}
		})
	}
	if notRun > maxNotRun {
		t.Errorf("%d commands in not-run blocks, at most %d: show what the tests can run", notRun, maxNotRun)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestDocsParser: the markers mean what the test relies on.
func TestDocsParser(t *testing.T) {
	doc := "text\n```console\n$ echo a \\\n  b\na b\n$ false\n[exit 1]\n```\n```toml\nx = 1\n```\n```chat\n> !status\nAll systems operational.\n```\n"
	blocks := parseDoc(t, "t.md", doc)
	if len(blocks) != 2 || blocks[0].kind != "console" || len(blocks[0].steps) != 2 || blocks[1].kind != "chat" {
		t.Fatalf("blocks: %+v", blocks)
	}
	if s := blocks[0].steps[0]; s.cmd != "echo a \nb" || !slices.Equal(s.want, []string{"a b"}) {
		t.Errorf("continued command: %+v", s)
	}
	if wantExit(blocks[0].steps[1].want) != 1 {
		t.Errorf("exit status not read: %+v", blocks[0].steps[1])
	}
	notRun := []struct {
		cmd      string
		problems int
	}{
		{"kubectl apply -f deploy/kubernetes/deployment.yaml", 0},
		{"kubectl apply -f deploy/kubernetes/missing.yaml", 1},
		{"nocbot publish", 1},                  // runnable: belongs in a console block
		{"systemctl start 'nocbot.service", 1}, // does not parse
	}
	for _, tc := range notRun {
		p, n := checkNotRun("t.md", []docBlock{{kind: "not-run", steps: []docStep{{cmd: tc.cmd}}}})
		if n != 1 || len(p) != tc.problems {
			t.Errorf("not-run %q: %d commands, problems %q; want %d problems", tc.cmd, n, p, tc.problems)
		}
	}
	tests := []struct {
		want []string
		got  string
		ok   bool
	}{
		{[]string{"a", "c"}, "a\nb\nc\n", true},
		{[]string{"c", "a"}, "a\nb\nc\n", false},
		{[]string{"x ... z"}, "x y y z\n", true},
		{[]string{"x ... z"}, "x y y z!\n", false},
		{[]string{"..."}, "", true},
		{[]string{"ready"}, "not ready\n", false},
	}
	for _, tc := range tests {
		if err := checkOutput(tc.want, tc.got); (err == nil) != tc.ok {
			t.Errorf("checkOutput(%q, %q) = %v, want ok=%v", tc.want, tc.got, err, tc.ok)
		}
	}
}
