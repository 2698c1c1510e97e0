package auth

// Login mirrors the fields of Medplum's Login resource that Ward uses
// (spec 1.8). Logins belong to no project (ward.SystemProjectID); access
// tokens carry the Login id, and a revoked Login makes every token of it 401.
type Login struct {
	ResourceType        string     `json:"resourceType"`
	ID                  string     `json:"id,omitempty"`
	User                *Reference `json:"user,omitempty"`       // User/… or ClientApplication/…
	Client              *Reference `json:"client,omitempty"`     // ClientApplication/…
	Project             *Reference `json:"project,omitempty"`    // Project/<id> or Project/new
	Membership          *Reference `json:"membership,omitempty"` // ProjectMembership/… once chosen
	ProfileType         string     `json:"profileType,omitempty"`
	AuthMethod          string     `json:"authMethod"` // password, client, exchange …
	AuthTime            string     `json:"authTime"`
	Code                string     `json:"code,omitempty"`
	Cookie              string     `json:"cookie,omitempty"`
	RefreshSecret       string     `json:"refreshSecret,omitempty"`
	Scope               string     `json:"scope,omitempty"`
	Nonce               string     `json:"nonce,omitempty"`
	CodeChallenge       string     `json:"codeChallenge,omitempty"`
	CodeChallengeMethod string     `json:"codeChallengeMethod,omitempty"`
	MfaVerified         bool       `json:"mfaVerified,omitempty"` // passed its MFA code (mfa.go)
	Granted             bool       `json:"granted,omitempty"`
	Revoked             bool       `json:"revoked,omitempty"`
	RemoteAddress       string     `json:"remoteAddress,omitempty"`
	UserAgent           string     `json:"userAgent,omitempty"`
}
