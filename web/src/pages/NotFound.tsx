import { Empty } from '../components/Feedback';
import { PageHeader } from '../components/PageHeader';
import { Link } from '../lib/router';

export function NotFoundPage() {
    return (
        <>
            <PageHeader title="Page not found" />
            <Empty title="This page doesn't exist">
                <Link to="/">Go home</Link>
            </Empty>
        </>
    );
}
