//! Batches of records in Redis: one script checks every record, then writes them all.

use std::sync::LazyLock;

use redis::Script;

use super::{MAX_CAS_ATTEMPTS, RedisStore, account_fields, corrupt, keys, models, names};
use crate::store::models::model_field;
use crate::store::{Records, StoreError};

impl RedisStore {
    /// Optimistic, like `update_key`: read the models and keys being replaced, set versions in
    /// Rust (serde stays the only encoder of their JSON), then run the script, which writes
    /// nothing unless each of them is still what was read. Accounts need no read: the script
    /// counts their versions itself.
    pub(in crate::store) async fn put_records(&self, mut records: Records) -> Result<Records, StoreError> {
        let accounts = records
            .accounts
            .iter()
            .map(|a| Ok((a.id.clone(), a.channel.clone(), account_fields(a)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let fields: Vec<String> = records
            .models
            .iter()
            .map(|m| model_field(&m.channel, &m.id))
            .collect();
        let key_records: Vec<String> = records.keys.iter().map(|k| names::api_key(&k.id)).collect();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let old_models = self.read_many("HMGET", Some(names::models()), &fields).await?;
            let old_keys = self.read_many("MGET", None, &key_records).await?;

            // Replaced records are decoded strictly, as the embedded store does: one this build
            // cannot read is `Corrupt`, never taken for absent (a key's old hash index entry
            // must not outlive it).
            let mut model_args = Vec::with_capacity(fields.len());
            for ((m, field), old) in records.models.iter_mut().zip(&fields).zip(old_models) {
                let before = old.as_deref().map(models::decode).transpose()?;
                m.version = before.map_or(0, |p| p.version) + 1;
                let new = serde_json::to_string(m).map_err(corrupt)?;
                model_args.push([field.clone(), old.unwrap_or_default(), new]);
            }
            let mut key_args = Vec::with_capacity(key_records.len());
            for (k, old) in records.keys.iter_mut().zip(old_keys) {
                let before = old.as_deref().map(keys::decode).transpose()?;
                k.version = before.as_ref().map_or(0, |p| p.version) + 1;
                let new = serde_json::to_string(k).map_err(corrupt)?;
                let old_hash = before.map(|p| p.hash).unwrap_or_default();
                key_args.push([
                    k.id.clone(),
                    old.unwrap_or_default(),
                    new,
                    k.hash.clone(),
                    old_hash,
                ]);
            }

            let script_keys = [
                names::accounts(),
                names::models(),
                names::models_seeded(),
                names::api_keys(),
            ];
            let accounts = &accounts;
            let reply: Vec<u64> = self
                .call(|mut c| async move {
                    let mut inv = PUT_RECORDS.prepare_invoke();
                    inv.key(&script_keys[..])
                        .arg(names::account_prefix())
                        .arg(names::credentials_prefix())
                        .arg(names::channel_accounts_prefix())
                        .arg(names::api_key_prefix())
                        .arg(names::api_key_hash_prefix());
                    inv.arg(accounts.len());
                    for (id, channel, (fields, credentials)) in accounts {
                        inv.arg(id).arg(channel).arg(fields.len()).arg(credentials.len());
                        for (f, v) in fields.iter().chain(credentials) {
                            inv.arg(f).arg(v);
                        }
                    }
                    inv.arg(model_args.len());
                    for arg in model_args.iter().flatten() {
                        inv.arg(arg);
                    }
                    inv.arg(key_args.len());
                    for arg in key_args.iter().flatten() {
                        inv.arg(arg);
                    }
                    inv.invoke_async(&mut c).await
                })
                .await?;
            match reply.split_first() {
                Some((1, versions)) => {
                    for (a, v) in records.accounts.iter_mut().zip(versions) {
                        a.version = *v;
                    }
                    return Ok(records);
                }
                Some((2, _)) => return Err(StoreError::Conflict { current: 0 }),
                _ => {} // a model or key changed since it was read: read again
            }
        }
        Err(StoreError::Unavailable(format!(
            "records changed under each of {MAX_CAS_ATTEMPTS} write attempts"
        )))
    }

    /// `HMGET key args…` or `MGET args…`; nothing to ask for asks nothing.
    async fn read_many(
        &self,
        command: &'static str,
        key: Option<String>,
        args: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        if args.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|mut c| async move {
            redis::cmd(command)
                .arg(key.as_slice())
                .arg(args)
                .query_async(&mut c)
                .await
        })
        .await
    }
}

scripts! {
    /// KEYS: all account ids, models, models seeded, all key ids. ARGV: account prefix,
    /// credentials prefix, channel-ids prefix, key record prefix, key hash prefix, then three
    /// sections, each a count and its records:
    /// - accounts: id, channel, n fields, n credentials, the field pairs, the credential pairs
    ///   (values JSON; the version is the script's to count);
    /// - models: field, the JSON last read ('' = absent; never valid JSON), the new JSON;
    /// - keys: id, the JSON last read, the new JSON, its hash, the hash last read ('' = none).
    ///
    /// Returns {0} when a model or key changed since it was read, {2} when a key's hash belongs
    /// to another key, else {1, each account's new version}. Every check runs before the first
    /// write: a script's writes stay even when it returns early. `owners` tracks the hash index
    /// as the keys before it leave it (false: given up), so a key may take a hash an earlier key
    /// of the batch gave up.
    PUT_RECORDS = r"
local accounts = {}
local pos = 7
for a = 1, tonumber(ARGV[6]) do
  accounts[a] = pos
  pos = pos + 4 + 2 * (tonumber(ARGV[pos + 2]) + tonumber(ARGV[pos + 3]))
end
local models = {}
local n = tonumber(ARGV[pos])
pos = pos + 1
for m = 1, n do
  if (redis.call('HGET', KEYS[2], ARGV[pos]) or '') ~= ARGV[pos + 1] then return {0} end
  models[m] = pos
  pos = pos + 3
end
local keys, owners = {}, {}
local function owner(hash)
  if owners[hash] == nil then owners[hash] = redis.call('GET', ARGV[5] .. hash) end
  return owners[hash]
end
n = tonumber(ARGV[pos])
pos = pos + 1
for k = 1, n do
  local id, hash, old_hash = ARGV[pos], ARGV[pos + 3], ARGV[pos + 4]
  if (redis.call('GET', ARGV[4] .. id) or '') ~= ARGV[pos + 1] then return {0} end
  local held = owner(hash)
  if held and held ~= id then return {2} end
  if old_hash ~= '' and old_hash ~= hash and owner(old_hash) == id then owners[old_hash] = false end
  owners[hash] = id
  keys[k] = pos
  pos = pos + 5
end

local reply = {1}
for a, p in ipairs(accounts) do
  local id = ARGV[p]
  local record, credentials = ARGV[1] .. id, ARGV[2] .. id
  local old = redis.call('HGET', record, 'channel')
  if old then redis.call('SREM', ARGV[3] .. cjson.decode(old), id) end
  local version = tonumber(redis.call('HGET', record, 'version') or '0') + 1
  redis.call('DEL', record, credentials)
  local j = p + 4
  for _ = 1, tonumber(ARGV[p + 2]) do
    redis.call('HSET', record, ARGV[j], ARGV[j + 1])
    j = j + 2
  end
  for _ = 1, tonumber(ARGV[p + 3]) do
    redis.call('HSET', credentials, ARGV[j], ARGV[j + 1])
    j = j + 2
  end
  redis.call('HSET', record, 'version', tostring(version))
  redis.call('SADD', KEYS[1], id)
  redis.call('SADD', ARGV[3] .. ARGV[p + 1], id)
  reply[a + 1] = version
end
for _, p in ipairs(models) do
  redis.call('HSET', KEYS[2], ARGV[p], ARGV[p + 2])
  redis.call('SADD', KEYS[3], ARGV[p])
end
for _, p in ipairs(keys) do
  local id, hash, old_hash = ARGV[p], ARGV[p + 3], ARGV[p + 4]
  if old_hash ~= '' and old_hash ~= hash and redis.call('GET', ARGV[5] .. old_hash) == id then
    redis.call('DEL', ARGV[5] .. old_hash)
  end
  redis.call('SET', ARGV[4] .. id, ARGV[p + 2])
  redis.call('SET', ARGV[5] .. hash, id)
  redis.call('SADD', KEYS[4], id)
end
return reply
";
}
