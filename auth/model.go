package auth

// Read-side views of the identity resources (spec 1.1-1.4). They hold the
// fields auth decides on; to update a stored resource, change its map form
// so that fields these structs do not model survive.

// User is a person who signs in. Project is nil for a server-scoped user.
type User struct {
	ResourceType  string     `json:"resourceType"`
	ID            string     `json:"id,omitempty"`
	FirstName     string     `json:"firstName,omitempty"`
	LastName      string     `json:"lastName,omitempty"`
	Email         string     `json:"email,omitempty"`
	EmailVerified bool       `json:"emailVerified,omitempty"`
	PasswordHash  string     `json:"passwordHash,omitempty"`
	Project       *Reference `json:"project,omitempty"`
	ExternalID    string     `json:"externalId,omitempty"`
}

// Membership is a ProjectMembership: a user's (or client's) seat in a project.
type Membership struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id,omitempty"`
	Project      *Reference     `json:"project,omitempty"`
	User         *Reference     `json:"user,omitempty"`
	Profile      *Reference     `json:"profile,omitempty"`
	AccessPolicy *Reference     `json:"accessPolicy,omitempty"`
	Access       []MemberAccess `json:"access,omitempty"`
	Admin        bool           `json:"admin,omitempty"`
	Active       *bool          `json:"active,omitempty"`
	ExternalID   string         `json:"externalId,omitempty"`
	InvitedBy    *Reference     `json:"invitedBy,omitempty"`
	// Identifier carries the label the React chooser shows next to the
	// names (system https://medplum.com/identifier/label).
	Identifier []any `json:"identifier,omitempty"`
}

// MemberAccess is one ProjectMembership.access entry.
type MemberAccess struct {
	Policy    *Reference        `json:"policy,omitempty"`
	Parameter []AccessParameter `json:"parameter,omitempty"`
}

// AccessParameter is one access[].parameter entry.
type AccessParameter struct {
	Name           string     `json:"name"`
	ValueString    string     `json:"valueString,omitempty"`
	ValueReference *Reference `json:"valueReference,omitempty"`
}

// Project is a tenant.
type Project struct {
	ResourceType           string           `json:"resourceType"`
	ID                     string           `json:"id,omitempty"`
	Name                   string           `json:"name,omitempty"`
	Description            string           `json:"description,omitempty"`
	Owner                  *Reference       `json:"owner,omitempty"`
	SuperAdmin             bool             `json:"superAdmin,omitempty"`
	StrictMode             bool             `json:"strictMode,omitempty"`
	CheckReferencesOnWrite bool             `json:"checkReferencesOnWrite,omitempty"`
	Features               []string         `json:"features,omitempty"`
	Link                   []ProjectLink    `json:"link,omitempty"`
	ExportedResourceType   []string         `json:"exportedResourceType,omitempty"`
	DefaultProfile         []DefaultProfile `json:"defaultProfile,omitempty"`
	Setting                []ProjectSetting `json:"setting,omitempty"`
}

// ProjectSetting is one Project.setting entry (the values Ward reads).
type ProjectSetting struct {
	Name         string `json:"name"`
	ValueBoolean bool   `json:"valueBoolean,omitempty"`
}

// requiresMfa reports the requireMfa setting (mfa.go).
func (p *Project) requiresMfa() bool {
	for _, st := range p.Setting {
		if st.Name == requireMfaSetting {
			return st.ValueBoolean
		}
	}
	return false
}

// DefaultProfile is one Project.defaultProfile entry: the profiles given
// to a resource of the type written without meta.profile.
type DefaultProfile struct {
	ResourceType string   `json:"resourceType,omitempty"`
	Profile      []string `json:"profile,omitempty"`
}

// defaultProfiles returns p.defaultProfile by resource type; nil when it
// has none.
func (p *Project) defaultProfiles() map[string][]string {
	if len(p.DefaultProfile) == 0 {
		return nil
	}
	out := make(map[string][]string, len(p.DefaultProfile))
	for _, d := range p.DefaultProfile {
		out[d.ResourceType] = append(out[d.ResourceType], d.Profile...)
	}
	return out
}

// ProjectLink is one Project.link entry.
type ProjectLink struct {
	Project *Reference `json:"project,omitempty"`
}

// Client is a ClientApplication.
type Client struct {
	ResourceType         string   `json:"resourceType"`
	ID                   string   `json:"id,omitempty"`
	Name                 string   `json:"name,omitempty"`
	Description          string   `json:"description,omitempty"`
	Secret               string   `json:"secret,omitempty"`
	RetiringSecret       string   `json:"retiringSecret,omitempty"`
	RedirectURI          string   `json:"redirectUri,omitempty"`
	RedirectURIs         []string `json:"redirectUris,omitempty"`
	PkceOptional         bool     `json:"pkceOptional,omitempty"`
	Status               string   `json:"status,omitempty"`
	AllowedOrigin        []string `json:"allowedOrigin,omitempty"`
	AccessTokenLifetime  string   `json:"accessTokenLifetime,omitempty"`
	RefreshTokenLifetime string   `json:"refreshTokenLifetime,omitempty"`
}
