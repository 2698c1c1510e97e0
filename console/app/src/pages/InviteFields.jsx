// The fields every invitation to the project asks for: a new member's
// name, email and initial password (inviteMember in lib.js sends them).
import { PasswordInput, TextInput } from '@mantine/core';

// InviteFields renders form's firstName, lastName, email and password;
// set(key) is the change handler of one. Each page names its inputs
// (prefix "member": memberFirstName …) so the browser suite can tell the
// forms apart; passwordHint says when the password is used.
export function InviteFields({ form, set, prefix = '', passwordHint }) {
  const name = (k) => (prefix ? prefix + k[0].toUpperCase() + k.slice(1) : k);
  return (
    <>
      <TextInput label="First name" name={name('firstName')} required value={form.firstName} onChange={set('firstName')} />
      <TextInput label="Last name" name={name('lastName')} required value={form.lastName} onChange={set('lastName')} />
      <TextInput label="Email" name={name('email')} type="email" required value={form.email} onChange={set('email')} />
      <PasswordInput label="Initial password" name={name('password')} description={passwordHint} value={form.password} onChange={set('password')} />
    </>
  );
}
