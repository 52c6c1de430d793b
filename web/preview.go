package web

import (
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// acmePrefix is the one dot-path served: certificate renewal must be
// testable on the preview exactly as on the bucket.
const acmePrefix = "/.well-known/acme-challenge/"

// preview serves exactly the published files, the way the bucket website
// does: index.html for a folder (never a listing), 404.html with status
// 404 for a miss, no dot-files (the manifest, temporary files) except
// .well-known/acme-challenge/, and gzip to clients that accept it.
func preview(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		p := path.Clean("/" + r.URL.Path)
		if hidden(p) {
			notFound(w, r, dir)
			return
		}
		name := strings.TrimPrefix(p, "/")
		if name == "" {
			name = "."
		}
		f, fi, err := openFile(dir, name)
		if err == nil && fi.IsDir() {
			if !strings.HasSuffix(r.URL.Path, "/") { // as the bucket website does
				f.Close()
				http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
				return
			}
			f.Close()
			name = path.Join(name, "index.html")
			f, fi, err = openFile(dir, name)
		}
		if err != nil || !fi.Mode().IsRegular() {
			if f != nil {
				f.Close()
			}
			notFound(w, r, dir)
			return
		}
		defer f.Close()
		serve(w, r, http.StatusOK, name, f, fi.ModTime())
	})
}

// hidden reports dot-paths other than the ACME challenge folder.
func hidden(p string) bool {
	if rest, ok := strings.CutPrefix(p, acmePrefix); ok {
		return strings.Contains(rest, "/.") || strings.HasPrefix(rest, ".")
	}
	return strings.Contains(p, "/.")
}

// openFile opens name inside dir; os.OpenInRoot refuses any escape,
// through ".." or a symbolic link.
func openFile(dir, name string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenInRoot(dir, name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func notFound(w http.ResponseWriter, r *http.Request, dir string) {
	f, fi, err := openFile(dir, "404.html")
	if err != nil || !fi.Mode().IsRegular() {
		if f != nil {
			f.Close()
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	serve(w, r, http.StatusNotFound, "404.html", f, time.Time{})
}

// serve writes one file: through http.ServeContent (ranges, conditional
// requests) when sent as is, gzip-compressed when the client accepts it
// and the type compresses.
func serve(w http.ResponseWriter, r *http.Request, code int, name string, f io.ReadSeeker, mod time.Time) {
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" && strings.HasPrefix("/"+name, acmePrefix) {
		ctype = "text/plain; charset=utf-8" // what an ACME server expects
	}
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	if compressible(ctype) {
		w.Header().Add("Vary", "Accept-Encoding")
	}
	if !compressible(ctype) || !acceptsGzip(r) {
		if code == http.StatusOK {
			http.ServeContent(w, r, name, mod, f)
			return
		}
		w.WriteHeader(code)
		if r.Method != http.MethodHead {
			io.Copy(w, f)
		}
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	if !mod.IsZero() {
		w.Header().Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	gz, _ := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if _, err := io.Copy(gz, f); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
		return // the client went away; nothing to tell it
	}
	gz.Close()
}

func compressible(ctype string) bool {
	t, _, _ := strings.Cut(ctype, ";")
	switch t {
	case "application/json", "application/xml", "application/rss+xml", "application/atom+xml",
		"application/javascript", "image/svg+xml", "application/manifest+json":
		return true
	}
	return strings.HasPrefix(t, "text/")
}

// acceptsGzip reads Accept-Encoding, honouring "gzip;q=0".
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") || strings.TrimSpace(enc) == "*" {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
