import { basename, dirname } from 'node:path'

/** The part of the artifact client Airlock uses (so tests can hand in their own). */
export interface ArtifactUploader {
  uploadArtifact(
    name: string,
    files: string[],
    rootDirectory: string
  ): Promise<{ id?: number; size?: number }>
}

/**
 * Uploads network.jsonl and audit.jsonl as one artifact (`audit-artifact`). A failed upload
 * is a warning, not a failed run: the logs stay on the runner and their head is an output.
 */
export async function uploadLogs(
  name: string,
  files: string[],
  warn: (line: string) => void,
  client?: ArtifactUploader
): Promise<number | undefined> {
  if (files.length === 0) return undefined
  try {
    // Loaded only when an upload is asked for: the artifact client (Azure storage, protobuf)
    // is most of the main bundle, and every run would pay to load it at start.
    const uploader = client ?? new (await import('@actions/artifact')).DefaultArtifactClient()
    const res = await uploader.uploadArtifact(name, files, dirname(files[0]!))
    return res.id
  } catch (err) {
    warn(
      `could not upload ${files.map((f) => basename(f)).join(' and ')} as artifact "${name}": ${(err as Error).message}`
    )
    return undefined
  }
}
