package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"syscall"
)

// DamagedError means the state file is not a sound bbolt file. Opening
// stops before bbolt writes anything, so the file stays as it was found.
type DamagedError struct {
	Path   string
	Reason string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("state file %s is damaged (%s): nothing was written to it; restore it from a copy made with 'nocbot backup', or move it aside to start with an empty state", e.Path, e.Reason)
}

// The on-disk layout of bbolt v1.4 (go.etcd.io/bbolt/internal/common),
// read here with plain file reads so that a damaged file is refused
// before bbolt maps it: bbolt trusts the meta page and faults on pages
// past the end of a truncated file.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	metaSize         = 64 // magic, version, pageSize, flags u32; root, seq, freelist, pgid, txid, checksum u64
	metaSumSize      = 56 // the checksum covers everything before it
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)

	// deepCheckMax bounds the file size for which every page is walked
	// at start-up; above it only the meta pages and the freelist are
	// checked (the walk reads the whole tree, see BenchmarkOpen).
	deepCheckMax = 256 << 20
	// wholeReadMax bounds the memory of reading the pages in use at once.
	wholeReadMax = 64 << 20
)

type boltMeta struct {
	pageSize, flags                  uint32
	root, freelist, pgid, txid, csum uint64
	sumOK                            bool
	magic, version                   uint32
	pageID                           uint64
	pageFlags                        uint16
}

// checkFile refuses a damaged state file before bbolt opens it. A missing
// file is fine (Open creates it); an empty one is started fresh, with a
// warning, since it usually means a mistake (a failed copy, a wrong path).
func checkFile(path string, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("state file %s is not a regular file", path)
	}
	if fi.Size() == 0 {
		if log != nil {
			log.Warn("state file is empty (0 bytes): starting with an empty state; if that is not what you meant, stop nocbot and restore the file from a backup", "file", path)
		}
		return nil
	}
	return checkPages(path, fi.Size(), fi.Size() <= deepCheckMax)
}

// checkPages validates the meta pages, the freelist and, with deep, every
// page of the tree, with plain reads (no memory map). A file locked by
// another process is skipped: bbolt's lock wait then gives the message.
func checkPages(path string, size int64, deep bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	defer f.Close()
	// Shared and non-blocking: a writer mid-transaction must not be read
	// as damage. Closing f releases it before bbolt takes its own lock.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil
		}
		return fmt.Errorf("lock state file %s: %w", path, err)
	}
	damaged := func(format string, a ...any) error {
		return &DamagedError{Path: path, Reason: fmt.Sprintf(format, a...)}
	}
	if size < pageHeaderSize+metaSize {
		return damaged("%d bytes, too short for a bbolt file", size)
	}
	m0, err := readMeta(f, 0)
	if err != nil {
		return damaged("reading the first meta page: %v", err)
	}
	pageSize := uint64(os.Getpagesize())
	if m0.valid() {
		pageSize = uint64(m0.pageSize)
	}
	if pageSize < 512 || pageSize > 1<<16 || pageSize&(pageSize-1) != 0 {
		return damaged("page size %d in the meta page is not a power of two between 512 and 65536", pageSize)
	}
	if uint64(size) < 2*pageSize {
		return damaged("%d bytes, shorter than its two meta pages of %d bytes", size, pageSize)
	}
	m1, err := readMeta(f, int64(pageSize))
	if err != nil {
		return damaged("reading the second meta page: %v", err)
	}
	// bbolt uses the valid meta page with the newer transaction.
	var m *boltMeta
	switch {
	case m0.valid() && m1.valid() && m1.txid > m0.txid:
		m = m1
	case m0.valid():
		m = m0
	case m1.valid():
		m = m1
	default:
		return damaged("neither meta page is valid (%s; %s)", m0.problem(0), m1.problem(1))
	}
	if uint64(m.pageSize) != pageSize {
		return damaged("the meta pages disagree on the page size (%d, %d)", pageSize, m.pageSize)
	}
	if m.pgid < 2 || m.pgid > uint64(size)/pageSize {
		return damaged("%d bytes, but its meta page says %d pages of %d bytes (%d bytes): the file was cut short", size, m.pgid, pageSize, m.pgid*pageSize)
	}
	if m.root < 2 || m.root >= m.pgid {
		return damaged("root page %d outside the file's %d pages", m.root, m.pgid)
	}
	free := map[uint64]bool{}
	if m.freelist != noFreelist {
		if free, err = checkFreelist(f, m, pageSize); err != nil {
			return damaged("freelist: %v", err)
		}
	}
	if !deep {
		return nil
	}
	w := &pageWalk{f: f, m: m, pageSize: pageSize, seen: map[uint64]bool{}, free: free}
	if used := m.pgid * pageSize; used <= wholeReadMax {
		// One read instead of two per page (BenchmarkOpen).
		w.data = make([]byte, used)
		if _, err := f.ReadAt(w.data, 0); err != nil {
			return damaged("reading its %d bytes in use: %v", used, err)
		}
	}
	if err := w.tree("(root)", m.root, 0); err != nil {
		return damaged("%v", err)
	}
	return nil
}

func readMeta(f *os.File, off int64) (*boltMeta, error) {
	var b [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return nil, err
	}
	le := binary.LittleEndian // bbolt writes native order; nocbot runs on little-endian hosts
	d := b[pageHeaderSize:]
	h := fnv.New64a()
	h.Write(d[:metaSumSize])
	m := &boltMeta{
		pageID:    le.Uint64(b[0:]),
		pageFlags: le.Uint16(b[8:]),
		magic:     le.Uint32(d[0:]),
		version:   le.Uint32(d[4:]),
		pageSize:  le.Uint32(d[8:]),
		flags:     le.Uint32(d[12:]),
		root:      le.Uint64(d[16:]),
		freelist:  le.Uint64(d[32:]),
		pgid:      le.Uint64(d[40:]),
		txid:      le.Uint64(d[48:]),
		csum:      le.Uint64(d[56:]),
	}
	m.sumOK = m.csum == h.Sum64()
	return m, nil
}

func (m *boltMeta) valid() bool {
	return m.magic == boltMagic && m.version == boltVersion && m.sumOK && m.pageFlags == metaPageFlag
}

func (m *boltMeta) problem(i int) string {
	switch {
	case m.magic != boltMagic:
		return fmt.Sprintf("meta %d: not a bbolt page", i)
	case m.version != boltVersion:
		return fmt.Sprintf("meta %d: format version %d, want %d", i, m.version, boltVersion)
	case !m.sumOK:
		return fmt.Sprintf("meta %d: checksum mismatch", i)
	}
	return fmt.Sprintf("meta %d: page flags %#x", i, m.pageFlags)
}

// checkFreelist reads the freelist page bbolt loads on open and checks
// that every page it lists exists.
func checkFreelist(f *os.File, m *boltMeta, pageSize uint64) (map[uint64]bool, error) {
	if m.freelist < 2 || m.freelist >= m.pgid {
		return nil, fmt.Errorf("page %d outside the file's %d pages", m.freelist, m.pgid)
	}
	off := int64(m.freelist * pageSize)
	var h [pageHeaderSize + 8]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, fmt.Errorf("read page %d: %w", m.freelist, err)
	}
	le := binary.LittleEndian
	if id, flags := le.Uint64(h[0:]), le.Uint16(h[8:]); id != m.freelist || flags != freelistPageFlag {
		return nil, fmt.Errorf("page %d has id %d and flags %#x, not a freelist page", m.freelist, id, flags)
	}
	count, overflow := uint64(le.Uint16(h[10:])), uint64(le.Uint32(h[12:]))
	if m.freelist+overflow >= m.pgid {
		return nil, fmt.Errorf("page %d overflows past the file's %d pages", m.freelist, m.pgid)
	}
	start := off + pageHeaderSize
	if count == 0xFFFF { // the real count is in the first element
		count = le.Uint64(h[pageHeaderSize:])
		start += 8
	}
	if (count*8)+uint64(start-off) > (overflow+1)*pageSize {
		return nil, fmt.Errorf("%d free pages do not fit in %d pages", count, overflow+1)
	}
	ids := make([]byte, count*8)
	if _, err := f.ReadAt(ids, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read free page ids: %w", err)
	}
	free := make(map[uint64]bool, count+overflow+1)
	for i := uint64(0); i < count; i++ {
		id := le.Uint64(ids[i*8:])
		if id < 2 || id >= m.pgid {
			return nil, fmt.Errorf("lists page %d, outside the file's %d pages", id, m.pgid)
		}
		if free[id] {
			return nil, fmt.Errorf("lists page %d twice", id)
		}
		free[id] = true
	}
	for i := m.freelist; i <= m.freelist+overflow; i++ {
		if free[i] {
			return nil, fmt.Errorf("lists its own page %d as free", i)
		}
	}
	return free, nil
}

// pageWalk follows the tree bbolt would read, from the root bucket
// through every branch, leaf and nested bucket, with plain reads: each page
// in range, of the kind its parent expects, read once (a page reached
// twice is a cycle, which would make bbolt's cursor loop), elements and
// keys inside their page, keys in order, and no page both in use and free.
// After it passes, bbolt only finds what it expects where it looks.
type pageWalk struct {
	f        *os.File
	data     []byte // the pages in use, read at once when small enough; else nil
	m        *boltMeta
	pageSize uint64
	seen     map[uint64]bool
	free     map[uint64]bool
}

const (
	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	bucketLeafFlag = 0x01
	elemSize       = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHdrSize  = 16 // root pgid u64, sequence u64; root 0 means an inline page follows
	maxDepth       = 64
)

func (w *pageWalk) bucket(name string, root uint64, inline []byte, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("bucket %q: nested deeper than %d", name, maxDepth)
	}
	if root == 0 {
		return w.page(name, inline, depth)
	}
	return w.tree(name, root, depth)
}

func (w *pageWalk) tree(name string, id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("bucket %q: tree deeper than %d", name, maxDepth)
	}
	if id < 2 || id >= w.m.pgid {
		return fmt.Errorf("bucket %q: page %d outside the file's %d pages", name, id, w.m.pgid)
	}
	if w.seen[id] {
		return fmt.Errorf("bucket %q: page %d is reached twice", name, id)
	}
	if w.free[id] {
		return fmt.Errorf("bucket %q: page %d is in use and also listed as free", name, id)
	}
	h, err := w.read(id*w.pageSize, pageHeaderSize)
	if err != nil {
		return fmt.Errorf("read page %d: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(h[0:]); got != id {
		return fmt.Errorf("bucket %q: page %d says it is page %d", name, id, got)
	}
	overflow := uint64(le.Uint32(h[12:]))
	if id+overflow >= w.m.pgid {
		return fmt.Errorf("bucket %q: page %d overflows past the file's %d pages", name, id, w.m.pgid)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] || w.free[i] {
			return fmt.Errorf("bucket %q: page %d is used twice", name, i)
		}
		w.seen[i] = true
	}
	buf, err := w.read(id*w.pageSize, (overflow+1)*w.pageSize)
	if err != nil {
		return fmt.Errorf("read page %d: %w", id, err)
	}
	return w.page(name, buf, depth)
}

// read returns n bytes at off, from memory when the file was read whole.
func (w *pageWalk) read(off, n uint64) ([]byte, error) {
	if w.data != nil {
		if off+n > uint64(len(w.data)) {
			return nil, io.ErrUnexpectedEOF
		}
		return w.data[off : off+n], nil
	}
	buf := make([]byte, n)
	if _, err := w.f.ReadAt(buf, int64(off)); err != nil {
		return nil, err
	}
	return buf, nil
}

// page checks one page held in buf (a file page or an inline bucket).
func (w *pageWalk) page(name string, buf []byte, depth int) error {
	le := binary.LittleEndian
	if len(buf) < pageHeaderSize {
		return fmt.Errorf("bucket %q: page of %d bytes", name, len(buf))
	}
	flags, count := le.Uint16(buf[8:]), int(le.Uint16(buf[10:]))
	if flags != branchPageFlag && flags != leafPageFlag {
		return fmt.Errorf("bucket %q: page %d has flags %#x, not a branch or leaf page", name, le.Uint64(buf), flags)
	}
	if flags == branchPageFlag && count == 0 {
		return fmt.Errorf("bucket %q: empty branch page %d", name, le.Uint64(buf))
	}
	if pageHeaderSize+count*elemSize > len(buf) {
		return fmt.Errorf("bucket %q: %d elements do not fit in page %d", name, count, le.Uint64(buf))
	}
	var prev []byte
	for i := 0; i < count; i++ {
		e := pageHeaderSize + i*elemSize
		var pos, ksize, vsize uint64
		if flags == branchPageFlag {
			pos, ksize = uint64(le.Uint32(buf[e:])), uint64(le.Uint32(buf[e+4:]))
		} else {
			pos, ksize, vsize = uint64(le.Uint32(buf[e+4:])), uint64(le.Uint32(buf[e+8:])), uint64(le.Uint32(buf[e+12:]))
		}
		start := uint64(e) + pos
		if start+ksize+vsize > uint64(len(buf)) {
			return fmt.Errorf("bucket %q: element %d of page %d points past the page", name, i, le.Uint64(buf))
		}
		key := buf[start : start+ksize]
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return fmt.Errorf("bucket %q: keys out of order in page %d", name, le.Uint64(buf))
		}
		prev = key
		switch {
		case flags == branchPageFlag:
			if err := w.tree(name, le.Uint64(buf[e+8:]), depth+1); err != nil {
				return err
			}
		case le.Uint32(buf[e:])&bucketLeafFlag != 0:
			v := buf[start+ksize : start+ksize+vsize]
			if len(v) < bucketHdrSize {
				return fmt.Errorf("bucket %q: nested bucket %q has a %d-byte header", name, key, len(v))
			}
			if err := w.bucket(string(key), le.Uint64(v), v[bucketHdrSize:], depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
