/**
 * The key-value store (paper section 5.3, Example 10): a thread slice with `put`, `del` and
 * selectors. See docs/DATABASE.md, "Key-value store".
 */
export {
  createKeyValueStore,
  MAX_KEY_LENGTH,
  type CreateKeyValueStore,
  type TypedCreateKeyValueStore,
  type CreateKeyValueStoreOptions,
  type KeyValueStore,
  type KeyedKeyValueStore,
  type KeyValueState,
  type KeyValueEntry,
  type KeyValueRow,
  type KeyValuePut,
  type KeyValueCaseReducers,
  type KeyValueSelectors
} from './keyValueStore.js'
