package auth

import "github.com/wardhealth/ward/store"

// The store ward serve gives identity tells where clients and users have
// their rows: without it, a client's id and secret and a sign-in without
// a project read every project (caller.go, homesOf).
var _ HomeStore = (*store.Store)(nil)
