package testsrv

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	s3Region       = "us-east-1"
	s3AccessKey    = "nocbotadmin"
	s3SecretKey    = "nocbotsecret123"
	s3StartTimeout = 20 * time.Second
)

// S3Server is a private versitygw gateway storing buckets as directories
// (posix backend), with an S3 static-website endpoint beside the API.
type S3Server struct {
	// Endpoint is the S3 API base URL, http://127.0.0.1:port. Use path-style
	// addressing (UsePathStyle in aws-sdk-go-v2).
	Endpoint string
	// WebsiteAddr is the static-website endpoint, 127.0.0.1:port. It picks
	// the bucket from the Host header: <bucket>.localhost.
	WebsiteAddr string
	// Credentials of the gateway's root user, and the region it claims.
	AccessKey, SecretKey, Region string

	server
	versitygw *process
}

// S3 starts a private S3 server for the test and returns once it accepts
// requests.
func S3(t testing.TB) *S3Server {
	t.Helper()
	bin := cachedTool(t, "versitygw", versitygwVersion, "versitygw")
	s := &S3Server{
		AccessKey: s3AccessKey,
		SecretKey: s3SecretKey,
		Region:    s3Region,
	}
	s.server = server{what: "S3 server", in: newInstanceIn(t, xattrCapableDir(t), "s3"), up: s.start}
	data := s.in.path("buckets")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	s.versitygw = s.in.process("versitygw")
	s.launch(t, func() {
		ports := freePorts(t, 2)
		s.Endpoint = "http://" + loopback(ports[0])
		s.WebsiteAddr = loopback(ports[1])
		s.versitygw.argv = []string{bin,
			"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--port", loopback(ports[0]),
			"--website", s.WebsiteAddr, "--website-domain", "localhost",
			"--quiet", "posix", data}
	})
	return s
}

func (s *S3Server) start() error {
	if err := s.versitygw.start(); err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Second}
	answers := func(url string) bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true // any status: an anonymous request is refused, which is fine
	}
	return waitUntil("versitygw answering", s3StartTimeout, func() bool {
		return answers(s.Endpoint+"/") && answers("http://"+s.WebsiteAddr+"/")
	}, s.versitygw)
}

// Client returns an aws-sdk-go-v2 S3 client for the server, logged in as
// its root user.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates a bucket.
func (s *S3Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("testsrv: creating bucket %s: %v", name, err)
	}
}

// xattrCapableDir is where S3 instances live: versitygw keeps object
// metadata in user extended attributes, which not every temp dir supports.
func xattrCapableDir(t testing.TB) string {
	t.Helper()
	candidates := []string{os.TempDir(), filepath.Join(toolsDir(), "tmp")}
	for _, dir := range candidates {
		if err := os.MkdirAll(dir, 0o755); err == nil && supportsUserXattr(dir) {
			return dir
		}
	}
	t.Fatalf("testsrv: none of %v supports user extended attributes, which versitygw needs", candidates)
	return ""
}

func supportsUserXattr(dir string) bool {
	f, err := os.CreateTemp(dir, ".nocbot-xattr-")
	if err != nil {
		return false
	}
	f.Close()
	defer os.Remove(f.Name())
	return syscall.Setxattr(f.Name(), "user.nocbot.check", []byte("1"), 0) == nil
}
