package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const (
	privateKeyFile        = "private-key.pem"
	credentialsSecretFile = "credentials-secret.yaml"
	// clientIDPlaceholder stands in the manifest for a client_id not given to keygen.
	clientIDPlaceholder = "REPLACE_WITH_CLIENT_ID"
	// Keys of the credentials Secret, as the ObsykAgent's credentialsSecretRef expects them.
	clientIDKey   = "client_id"
	privateKeyKey = "private_key"
)

type keygenOptions struct {
	outDir     string
	clientID   string
	secretName string
	namespace  string
}

func runKeygen(args []string, stdout, stderr io.Writer) int {
	const name = "obsyk-hub keygen"
	opts := keygenOptions{}
	fs := newFlagSet(name)
	fs.StringVar(&opts.outDir, "out-dir", ".", "directory of the files written (created, mode 0700, when missing)")
	fs.StringVar(&opts.clientID, "client-id", "", "client_id the platform gave for this key; empty writes the placeholder "+clientIDPlaceholder)
	fs.StringVar(&opts.secretName, "secret-name", "obsyk-credentials", "name of the credentials Secret in the manifest")
	fs.StringVar(&opts.namespace, "namespace", "obsyk-system", "namespace of the credentials Secret: the ObsykAgent's own")
	summary := "Generate an ECDSA P-256 key pair for an ObsykAgent. Writes the private key to <out-dir>/" + privateKeyFile +
		"\nand a credentials Secret manifest to <out-dir>/" + credentialsSecretFile + " (both mode 0600, never overwritten),\n" +
		"and prints the public key to register with the platform. The private key is never printed."
	if code, done := parseFlags(fs, name, summary, args, stdout, stderr); done {
		return code
	}
	if fs.Changed("client-id") {
		opts.clientID = strings.TrimSpace(opts.clientID)
		if opts.clientID == "" || strings.ContainsAny(opts.clientID, "\r\n") {
			return usageError(stderr, name, "--client-id must be a non-empty single line")
		}
	}
	if errs := validation.IsDNS1123Subdomain(opts.secretName); len(errs) > 0 {
		return usageError(stderr, name, fmt.Sprintf("--secret-name %q is not a valid Secret name: %s", opts.secretName, strings.Join(errs, "; ")))
	}
	if errs := validation.IsDNS1123Label(opts.namespace); len(errs) > 0 {
		return usageError(stderr, name, fmt.Sprintf("--namespace %q is not a valid namespace: %s", opts.namespace, strings.Join(errs, "; ")))
	}
	if opts.outDir == "" {
		return usageError(stderr, name, "--out-dir must not be empty")
	}

	publicPEM, err := keygen(opts)
	if err != nil {
		return failure(stderr, name, err)
	}
	keyPath := filepath.Join(opts.outDir, privateKeyFile)
	secretPath := filepath.Join(opts.outDir, credentialsSecretFile)
	fmt.Fprintf(stdout, "Wrote the private key to %s and the credentials Secret manifest to %s (mode 0600).\n", keyPath, secretPath)
	fmt.Fprintf(stdout, "Keep both out of version control; the private key never leaves them.\n\n")
	fmt.Fprintf(stdout, "Register this public key with the Obsyk platform:\n\n%s\n", publicPEM)
	if opts.clientID == "" {
		fmt.Fprintf(stdout, "The platform answers with a client_id: replace %s in %s with it, then apply the Secret:\n", clientIDPlaceholder, secretPath)
	} else {
		fmt.Fprintf(stdout, "Once the platform accepts the key, apply the Secret:\n")
	}
	fmt.Fprintf(stdout, "\n  kubectl apply -f %s\n\nand name it in the ObsykAgent: spec.credentialsSecretRef.name: %s (namespace %s).\n", secretPath, opts.secretName, opts.namespace)
	return exitOK
}

// keygen generates the key, writes both files and returns the public key PEM. It writes
// nothing if either file exists, and removes what it wrote if a later step fails.
func keygen(opts keygenOptions) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	privatePEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	manifest, err := credentialsManifest(opts, privatePEM)
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(opts.outDir, 0o700); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	files := []struct {
		path    string
		content []byte
	}{
		{filepath.Join(opts.outDir, privateKeyFile), privatePEM},
		{filepath.Join(opts.outDir, credentialsSecretFile), manifest},
	}
	for _, f := range files {
		if _, err := os.Lstat(f.path); err == nil {
			return nil, fmt.Errorf("%s already exists; refusing to overwrite it (move it away or choose another --out-dir)", f.path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("check %s: %w", f.path, err)
		}
	}
	var written []string
	for _, f := range files {
		if err := writeNew(f.path, f.content); err != nil {
			for _, w := range written {
				_ = os.Remove(w)
			}
			return nil, err
		}
		written = append(written, f.path)
	}
	return publicPEM, nil
}

// writeNew creates path with mode 0600 and writes content; an existing file is an error.
func writeNew(path string, content []byte) (retErr error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; refusing to overwrite it", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if err := f.Close(); err != nil && retErr == nil {
			retErr = fmt.Errorf("write %s: %w", path, err)
		}
		if retErr != nil {
			_ = os.Remove(path)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("set mode of %s: %w", path, err)
	}
	if _, err := f.Write(content); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// credentialsManifest renders the credentials Secret, with a comment on how to use it.
func credentialsManifest(opts keygenOptions, privatePEM []byte) ([]byte, error) {
	clientID := opts.clientID
	if clientID == "" {
		clientID = clientIDPlaceholder
	}
	secret := map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"name": opts.secretName, "namespace": opts.namespace},
		"type":       "Opaque",
		"stringData": map[string]string{clientIDKey: clientID, privateKeyKey: string(privatePEM)},
	}
	body, err := yaml.Marshal(secret)
	if err != nil {
		return nil, fmt.Errorf("render credentials secret: %w", err)
	}
	var header strings.Builder
	header.WriteString("# Obsyk platform credentials for ObsykAgents in namespace " + opts.namespace + ", written by obsyk-hub keygen.\n")
	header.WriteString("# It holds a private key: keep it out of version control and delete it once applied.\n")
	if opts.clientID == "" {
		header.WriteString("# Replace " + clientIDPlaceholder + " with the client_id the platform gives when you register the public key.\n")
	}
	header.WriteString("# Apply it with: kubectl apply -f " + credentialsSecretFile + "\n")
	return append([]byte(header.String()), body...), nil
}
