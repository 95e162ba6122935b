package configs

import (
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
	URL             string           `yaml:"url,omitempty"`
	User            string           `yaml:"user,omitempty"`
	Password        config.Secret    `yaml:"password,omitempty"`
	Token           config.Secret    `yaml:"token,omitempty"`
	CredentialsFile string           `yaml:"credentials_file,omitempty"`
	TLSConfig       config.TLSConfig `yaml:"tls_config,omitempty"`
	// Stream is the JetStream stream holding deploy and verdict events.
	Stream string `yaml:"stream,omitempty"`
	// KVBucket is the key-value bucket holding analysis state.
	KVBucket string `yaml:"kv_bucket,omitempty"`
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
	if n.Token != "" && (n.User != "" || n.Password != "") {
		add(path+".token", "use either token or user/password, not both")
	}
	if n.Password != "" && n.User == "" {
		add(path+".password", "password needs user")
	}
	if n.URL == "" && (n.User != "" || n.Token != "" || n.CredentialsFile != "") {
		add(path+".url", "credentials are set but no url: the embedded server needs none")
	}
	if err := n.TLSConfig.Validate(); err != nil {
		add(path+".tls_config", "%v", err)
	}
}
