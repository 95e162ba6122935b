package configs

import (
	"fmt"
	"os"
	"strings"

	"github.com/prometheus/common/config"
)

// Default names of canaryd's JetStream assets.
const (
	DefaultStream   = "CANARY"
	DefaultKVBucket = "canaryd_analyses"
)

// NATS configures the connection to NATS. With an empty URL canaryd runs
// an embedded server with JetStream storing under --storage.path.
type NATS struct {
	URL      string        `yaml:"url,omitempty"`
	User     string        `yaml:"user,omitempty"`
	Password config.Secret `yaml:"password,omitempty"`
	// PasswordFile holds the password, so that the config file holds no
	// secret (relative paths are relative to the config file).
	PasswordFile string        `yaml:"password_file,omitempty"`
	Token        config.Secret `yaml:"token,omitempty"`
	// TokenFile holds the token.
	TokenFile       string           `yaml:"token_file,omitempty"`
	CredentialsFile string           `yaml:"credentials_file,omitempty"`
	TLSConfig       config.TLSConfig `yaml:"tls_config,omitempty"`
	// Stream is the JetStream stream holding deploy and verdict events.
	Stream string `yaml:"stream,omitempty"`
	// KVBucket is the key-value bucket holding analysis state.
	KVBucket string `yaml:"kv_bucket,omitempty"`
}

// Secrets returns the password and token, read from their files when set.
func (n *NATS) Secrets() (password, token string, err error) {
	password, token = string(n.Password), string(n.Token)
	if n.PasswordFile != "" {
		b, err := os.ReadFile(n.PasswordFile)
		if err != nil {
			return "", "", fmt.Errorf("nats password_file: %w", err)
		}
		password = strings.TrimSpace(string(b))
	}
	if n.TokenFile != "" {
		b, err := os.ReadFile(n.TokenFile)
		if err != nil {
			return "", "", fmt.Errorf("nats token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return password, token, nil
}

// StreamOrDefault returns the stream name.
func (n *NATS) StreamOrDefault() string {
	if n.Stream == "" {
		return DefaultStream
	}
	return n.Stream
}

// KVBucketOrDefault returns the key-value bucket name.
func (n *NATS) KVBucketOrDefault() string {
	if n.KVBucket == "" {
		return DefaultKVBucket
	}
	return n.KVBucket
}

func (n *NATS) validate(path string, add func(path, format string, args ...any)) {
	hasToken := n.Token != "" || n.TokenFile != ""
	hasPassword := n.Password != "" || n.PasswordFile != ""
	if n.Token != "" && n.TokenFile != "" {
		add(path+".token_file", "use either token or token_file, not both")
	}
	if n.Password != "" && n.PasswordFile != "" {
		add(path+".password_file", "use either password or password_file, not both")
	}
	if hasToken && (n.User != "" || hasPassword) {
		add(path+".token", "use either token or user/password, not both")
	}
	if hasPassword && n.User == "" {
		add(path+".password", "password needs user")
	}
	if n.URL == "" && (n.User != "" || hasToken || n.CredentialsFile != "") {
		add(path+".url", "credentials are set but no url: the embedded server needs none")
	}
	if err := n.TLSConfig.Validate(); err != nil {
		add(path+".tls_config", "%v", err)
	}
}
