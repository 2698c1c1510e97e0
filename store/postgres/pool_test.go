package postgres

import "testing"

// TestPoolSize: the pool is sized to the cores unless the URL or the
// caller sizes it (a URL's pool_max_conns used to be overwritten by 20).
func TestPoolSize(t *testing.T) {
	const base = "postgres://u@127.0.0.1:5432/db"
	for _, c := range []struct {
		name  string
		url   string
		opts  Options
		cores int
		want  int32
	}{
		{"1 core: at least 8", base, Options{}, 1, 8},
		{"2 cores: 4 a core", base, Options{}, 2, 8},
		{"4 cores", base, Options{}, 4, 16},
		{"64 cores: at most 20", base, Options{}, 64, 20},
		{"the URL sizes it", base + "?pool_max_conns=3", Options{}, 2, 3},
		{"the URL sizes it above the default", base + "?sslmode=disable&pool_max_conns=50", Options{}, 2, 50},
		{"the caller wins over the URL", base + "?pool_max_conns=3", Options{MaxConns: 5}, 2, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := poolConfig(c.url, c.opts, c.cores)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MaxConns != c.want {
				t.Errorf("MaxConns = %d, want %d", cfg.MaxConns, c.want)
			}
		})
	}
}

func TestPoolConfigRefusesABadURL(t *testing.T) {
	if _, err := poolConfig("postgres://u@127.0.0.1:5432/db?pool_max_conns=many", Options{}, 2); err == nil {
		t.Error("a pool_max_conns that is not a number was taken")
	}
}
