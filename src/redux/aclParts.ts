/**
 * The access-control half, loaded by `ThreadLifecycle` when a peer first creates, opens, joins or
 * changes an access-controlled thread: the ACL projection, its rotations and the owner
 * commitment. A peer with Raw threads only (typical use) does not load it.
 */
export { ACL_PREFIX, aclProjection, createAclThreadId } from '../acl/aclProjection.js'
export { needsRotation, planRotation } from '../acl/rotation.js'
export { grants, rolesIn } from '../acl/roles.js'
