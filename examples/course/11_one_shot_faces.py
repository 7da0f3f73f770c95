"""One-shot learning: face verification and recognition with a pretrained face network and one trained by triplet loss.

The course's claims:

- face recognition is a one-shot problem: one photo per person in the
  database; rather than a softmax over people, learn a similarity
  function d(img1, img2) = || f(img1) - f(img2) ||^2 between encodings;
- verification: "same person" when d is under a threshold tau;
- recognition: the database person with the smallest distance;
- f is learned with the triplet loss max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2
  + alpha, 0) on (anchor, positive, negative) triplets, choosing hard ones;
- FaceNet/DeepFace-style networks trained on millions of faces do this well on
  people they never saw.

Measured on the AT&T faces shipped with cnnkit, on 10 people held out of any
training (``data.split_people``), with three encodings:

- dlib's pretrained face ResNet (``models.get_model("dlib_face_resnet",
  pretrained=True)`` through ``face.embed``: MTCNN, dlib's 5 landmarks, aligned
  150x150 chip; trained by dlib on about 3 million faces) and its published
  threshold 0.6;
- cnnkit's ``face_embedding`` trained here from scratch with the batch-hard
  triplet loss (margin 0.5, as ``cnnkit face train``) on the other 30 people
  (``face.siamese.train_embedding``, photos halved to 56x46); threshold
  chosen on the training people;
- raw pixels (no learning; threshold chosen on the training people).

Verification: every pair of the held-out photos, ROC curves (scikit-learn's
``roc_curve``) and the accuracy at the threshold. Recognition: one photo per
person enrolled, each other photo named by its nearest enrolled one
(``face.evaluation.one_shot_identification_accuracy``, averaged over the
enrolled photo).

    python examples/course/11_one_shot_faces.py [--quick] [--epochs 20]
"""
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

import _common
from cnnkit import data, face
from cnnkit.face.evaluation import (best_threshold, embed_images, one_shot_identification_accuracy, pair_distances,
                                    pixel_embeddings, verification_accuracy)
from cnnkit.face.siamese import train_embedding
from cnnkit.models import get_model
from cnnkit.models.dlib_resnet import SAME_PERSON_DISTANCE


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=20, help="epochs of triplet training (9 steps each)")


def dlib_encodings(images):
    """dlib's 128-d descriptors of grey AT&T photos (made RGB, 2x larger for MTCNN); None where no face is found."""
    from cnnkit.data import to_uint8

    out = []
    for image in images:
        rgb = to_uint8(np.repeat(data.resize(image, (224, 184)), 3, axis=-1))
        try:
            out.append(face.embed(rgb))
        except ValueError:  # no face found
            out.append(None)
    return out


def main(argv=None):
    args = _common.parse_args(__doc__, add_arguments, argv)
    faces = data.load_att_faces()
    train_people, eval_people = data.split_people(faces.labels, n_eval=10, seed=args.seed)
    per_person = 10
    if args.quick:
        args.epochs, eval_people, per_person = 1, eval_people[:3], 3
    evaluated = np.flatnonzero(np.isin(faces.labels, eval_people) & (np.arange(len(faces)) % 10 < per_person))
    labels = faces.labels[evaluated]

    small = data.resize(faces.images, (56, 46), method="area")  # 2x2 blocks averaged
    if args.quick:
        train_people = train_people[:8]
    is_train = np.isin(faces.labels, train_people)
    model = get_model("face_embedding", input_size=(56, 46), in_channels=1, rng=args.seed)
    history = train_embedding(model, small[is_train], faces.labels[is_train], epochs=args.epochs, margin=0.5,
                              seed=args.seed)
    model.eval()
    train_d = pair_distances(embed_images(model, small[is_train]), faces.labels[is_train])
    learned_threshold, _ = best_threshold(*train_d)
    learned = embed_images(model, small[evaluated])
    pixels = pixel_embeddings(small)
    pixel_threshold, _ = best_threshold(*pair_distances(pixels[is_train], faces.labels[is_train]))

    dlib = dlib_encodings(faces.images[evaluated])
    found = np.array([d is not None for d in dlib])
    print(f"dlib: MTCNN found a face in {found.sum()} of {len(found)} held-out photos")
    encodings = {"dlib face ResNet (pretrained)": (np.stack([d for d in dlib if d is not None]), labels[found],
                                                   SAME_PERSON_DISTANCE),
                 f"triplet loss, from scratch ({args.epochs} epochs)": (learned, labels, learned_threshold),
                 "raw pixels": (pixels[evaluated], labels, pixel_threshold)}
    rows, curves = [], {}
    for name, (x, y, threshold) in encodings.items():
        d, same = pair_distances(x, y)
        accuracy, tpr, tnr = verification_accuracy(d, same, threshold)
        auc = roc_auc_score(same, -d)
        curves[name] = (roc_curve(same, -d), d, same, threshold)
        rows.append((name, len(y), int(same.sum()), int((~same).sum()), f"{threshold:.3f}", f"{accuracy:.3f}",
                     f"{tpr:.3f}", f"{tnr:.3f}", f"{auc:.3f}", f"{one_shot_identification_accuracy(x, y):.3f}"))
    _common.table(["encoding", "photos", "same pairs", "different pairs", "threshold", "verification acc", "TPR",
                   "TNR", "ROC AUC", "one-shot recognition"], rows,
                  f"AT&T faces, {len(eval_people)} people never trained on (chance for recognition "
                  f"{1 / len(eval_people):.2f}):")
    print(f"triplet training: {len(history)} epochs on {int(is_train.sum())} photos of {len(train_people)} people, "
          f"{sum(history.seconds):.0f} s; last loss {history.loss[-1]:.3f}")

    fig = _common.figure(14, 4.6)
    ax = fig.add_subplot(1, 3, 1)
    for name, ((fpr, tpr, _), d, same, _) in curves.items():
        ax.plot(fpr, tpr, label=f"{name}: AUC {roc_auc_score(same, -d):.3f}")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
    ax.set_xlabel("false positive rate (different people called same)")
    ax.set_ylabel("true positive rate (same person called same)")
    ax.set_title("verification ROC, held-out people")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    for i, name in enumerate(list(curves)[:2]):
        _, d, same, threshold = curves[name]
        ax = fig.add_subplot(1, 3, 2 + i)
        bins = np.linspace(0, d.max() * 1.05, 40)
        ax.hist(d[same], bins, alpha=0.6, density=True, label="same person")
        ax.hist(d[~same], bins, alpha=0.6, density=True, label="different people")
        ax.axvline(threshold, color="black", ls="--", label=f"threshold {threshold:.2f}")
        ax.set_xlabel("distance ||f(x1) - f(x2)||")
        ax.set_ylabel("density")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=8)
    _common.save(fig, args, "11_one_shot_faces.png",
                 f"One-shot face verification on {len(eval_people)} AT&T people never trained on")
    _common.done(args)
    return rows


if __name__ == "__main__":
    main()
